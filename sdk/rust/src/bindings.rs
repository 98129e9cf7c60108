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
