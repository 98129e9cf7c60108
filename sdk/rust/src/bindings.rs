//! The bindings generated from `wit/consumer.wit`. Public only so that
//! [`export_consumer!`](crate::export_consumer!) can reach them from the
//! plugin's crate; use the re-exports at the crate root instead.

wit_bindgen::generate!({
    path: "../../wit",
    world: "channel-consumer",
    // The export macro is invoked from the plugin's crate, so it must be
    // exported and must find these bindings through this crate's path.
    pub_export_macro: true,
    default_bindings_module: "wasmsock_sdk::bindings",
});

/// `adopt-handler`, generated apart from the world above: wit-bindgen's
/// `export!` exports every export of its world, and the host adopts the
/// connections of any plugin that exports `adopt-handler`, so a plugin that
/// did not opt in (`export_consumer!(T, adopt)`) must not get it. With a
/// public export macro, a world's exports reach a component only through
/// the crate that invokes its `export!` (the custom section compiled here
/// lists imports only), so only the `adopt` arm's expansion adds this one.
#[cfg(feature = "adopt")]
pub mod adopt {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "optional-adopt",
        pub_export_macro: true,
        // No `with` for `wasmsock:plugin/types`: `on-adopt` takes only
        // `connection-id` and `field`, aliases of `u64` and a string pair,
        // so no type of that interface is generated here twice.
        default_bindings_module: "wasmsock_sdk::bindings::adopt",
    });
}
