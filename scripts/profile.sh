# Sourced by the scripts that build and run the host: which cargo profile
# to build (WASMSOCK_PROFILE, default release), where its binaries land
# ($CARGO_TARGET_DIR or target/, then `debug` for the dev profile and the
# profile's own name otherwise, as cargo lays them out), and how to select
# the host for `cargo build` (select_host).
profile=${WASMSOCK_PROFILE:-release}
target_dir=${CARGO_TARGET_DIR:-$root/target}
[[ $target_dir == /* ]] || target_dir=$PWD/$target_dir
if [[ $profile == dev ]]; then bin_dir=$target_dir/debug; else bin_dir=$target_dir/$profile; fi
# Release: the host's package alone, with only its own dependencies'
# features. Dev (CI, after the tests): the host's binary with the test
# build's features, so that cargo finds fresh every crate `cargo test
# --workspace` (or `cargo build --workspace --all-targets`) compiled:
# --workspace unifies every member's features (hyper's through fws-echo,
# ...) and --examples, a target kind `cargo test` builds too (there are
# none today), turns on the dev-dependencies' features (tokio's "full",
# ...). Alone (-p wasmsock) the dev build resolves other features and
# compiles the host and some 55 of the crates under it again (~7 min in
# CI). bench/run selects its binaries the same way.
if [[ $profile == dev ]]; then
  select_host=(--workspace --examples --bin wasmsock)
else
  select_host=(-p wasmsock)
fi
