# Sourced by the scripts that build and run the host: which cargo profile
# to build (WASMSOCK_PROFILE, default release) and where its binaries land
# ($CARGO_TARGET_DIR or target/, then `debug` for the dev profile and the
# profile's own name otherwise, as cargo lays them out).
profile=${WASMSOCK_PROFILE:-release}
target_dir=${CARGO_TARGET_DIR:-$root/target}
[[ $target_dir == /* ]] || target_dir=$PWD/$target_dir
if [[ $profile == dev ]]; then bin_dir=$target_dir/debug; else bin_dir=$target_dir/$profile; fi
