//! [`export_consumer!`](crate::export_consumer!), which a plugin invokes
//! once to make a component of its [`Consumer`](crate::Consumer) type, and
//! the functions its expansion calls.

/// Make a component of a [`Consumer`](crate::Consumer) type: generates the
/// WIT `handler` export and the per-connection state map. Invoke once, at
/// the crate root of a `cdylib`: `wasmsock_sdk::export_consumer!(MyConsumer);`.
///
/// `wasmsock_sdk::export_consumer!(MyConsumer, adopt);` (feature `adopt`,
/// for a type that is also `serde::Serialize + serde::de::DeserializeOwned`)
/// also keeps each connection's value in its
/// [`attachment`](crate::attachment), as JSON, after every call that
/// changed it, and exports `adopt-handler`: after a reload, or when another
/// connection's call failed its instance, the instance that takes a
/// connection over rebuilds its value from the attachment and calls
/// [`Consumer::adopted`](crate::Consumer::adopted), so the client carries
/// on as if nothing happened. Without `adopt` the component has no
/// `adopt-handler`, which the host reads as "my connections' state cannot
/// move" (it drains them on a reload instead).
#[macro_export]
macro_rules! export_consumer {
    ($ty:ty) => {
        $crate::__export_consumer!($ty, $crate::__private::Forget, {});
    };
    ($ty:ty, adopt) => {
        $crate::__export_adopting_consumer!($ty);
    };
}

/// The expansion both arms of [`export_consumer!`](crate::export_consumer!)
/// share: the state map, the `handler` and `event-handler` exports, and
/// `$extra` items next to them. `$keep` is what happens to a value after
/// each call ([`__private::Keep`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __export_consumer {
    ($ty:ty, $keep:ty, { $($extra:item)* }) => {
        const _: () = {
            ::std::thread_local! {
                static STATES: ::std::cell::RefCell<
                    ::std::collections::HashMap<$crate::ConnectionId, $ty>,
                > = ::std::cell::RefCell::new(::std::collections::HashMap::new());
            }

            struct WasmsockExport;

            impl $crate::bindings::exports::wasmsock::plugin::handler::Guest for WasmsockExport {
                fn on_connect(
                    conn: $crate::ConnectionId,
                    scope: $crate::RawScope,
                ) -> ::core::result::Result<$crate::Accept, $crate::Reject> {
                    $crate::__private::on_connect::<$ty, $keep>(&STATES, conn, scope)
                }

                fn on_message(conn: $crate::ConnectionId, message: $crate::Message) {
                    $crate::__private::on_message::<$ty, $keep>(&STATES, conn, message)
                }

                fn on_disconnect(conn: $crate::ConnectionId, info: $crate::CloseInfo) {
                    $crate::__private::on_disconnect::<$ty, $keep>(&STATES, conn, info)
                }
            }

            impl $crate::bindings::exports::wasmsock::plugin::event_handler::Guest
                for WasmsockExport
            {
                fn on_event(
                    conn: $crate::ConnectionId,
                    group: ::core::option::Option<::std::string::String>,
                    event: $crate::Message,
                ) {
                    $crate::__private::on_event::<$ty, $keep>(&STATES, conn, group, event)
                }

                fn on_gap(conn: $crate::ConnectionId, group: ::std::string::String, lost: u64) {
                    $crate::__private::on_gap::<$ty, $keep>(&STATES, conn, group, lost)
                }
            }

            $crate::bindings::export!(WasmsockExport with_types_in $crate::bindings);

            $($extra)*
        };
    };
}

/// The `adopt` arm of [`export_consumer!`](crate::export_consumer!): values
/// kept in attachments, and the `adopt-handler` export, whose `export!` is
/// invoked here and nowhere else (see `bindings::adopt`).
#[cfg(feature = "adopt")]
#[doc(hidden)]
#[macro_export]
macro_rules! __export_adopting_consumer {
    ($ty:ty) => {
        $crate::__export_consumer!($ty, $crate::__private::Attach, {
            impl $crate::bindings::adopt::exports::wasmsock::plugin::adopt_handler::Guest
                for WasmsockExport
            {
                fn on_adopt(
                    conn: $crate::ConnectionId,
                    path: ::std::string::String,
                    params: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                    attachment: ::std::vec::Vec<u8>,
                ) -> bool {
                    $crate::__private::on_adopt::<$ty>(&STATES, conn, path, params, attachment)
                }
            }

            $crate::bindings::adopt::export!(WasmsockExport with_types_in $crate::bindings::adopt);
        });
    };
}

/// Without the `adopt` feature the `adopt` arm cannot work: say so at the
/// plugin's `export_consumer!` instead of failing on a missing path.
#[cfg(not(feature = "adopt"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __export_adopting_consumer {
    ($ty:ty) => {
        ::core::compile_error!(
            "export_consumer!(T, adopt) needs the `adopt` feature of wasmsock-sdk: \
             wasmsock-sdk = { path = \"..\", features = [\"adopt\"] }"
        );
    };
}

/// Used by [`export_consumer!`](crate::export_consumer!); not part of the
/// API. Re-exported as `wasmsock_sdk::__private`, the path the macro names.
#[doc(hidden)]
pub mod __private {
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;
    use std::thread::LocalKey;

    use crate::{
        Accept, CloseInfo, Connection, ConnectionId, Consumer, Message, RawScope, Reject, Scope,
    };

    #[cfg(feature = "adopt")]
    pub use crate::adopt::{on_adopt, Attach};

    /// The per-connection values of one instance, by connection id.
    pub type States<T> = LocalKey<RefCell<HashMap<ConnectionId, T>>>;

    /// What happens to a connection's value after each call that may have
    /// changed it, chosen by the arm of `export_consumer!`: a type
    /// parameter rather than a flag, so that a plugin without `adopt`
    /// compiles to exactly what it did before.
    pub trait Keep<T> {
        /// `value` is connection `id`'s after a call (including `connect`).
        fn kept(id: ConnectionId, value: &T);
        /// Connection `id` ended: forget what was remembered about it.
        fn forget(id: ConnectionId);
    }

    /// Keep nothing: the value lives only in the instance.
    pub enum Forget {}

    impl<T> Keep<T> for Forget {
        #[inline(always)]
        fn kept(_: ConnectionId, _: &T) {}
        #[inline(always)]
        fn forget(_: ConnectionId) {}
    }

    thread_local! {
        /// Whether a call for a connection without a value was logged yet.
        static UNKNOWN_LOGGED: Cell<bool> = const { Cell::new(false) };
    }

    /// A call for a connection this instance holds no value for: only a
    /// host that moved the connection here without `on-adopt` sends one
    /// (a manifest's `on_reload = "adopt"` on a plugin exported without
    /// `adopt`). Said once per instance, since the call is dropped.
    #[cold]
    fn unknown(id: ConnectionId) {
        if !UNKNOWN_LOGGED.replace(true) {
            crate::warn!(
                "connection {id}: no value here for it (moved without on-adopt?), call dropped; \
                 `export_consumer!(T, adopt)` lets connections move (said once)"
            );
        }
    }

    pub fn on_connect<T: Consumer, K: Keep<T>>(
        states: &'static States<T>,
        id: ConnectionId,
        scope: RawScope,
    ) -> Result<Accept, Reject> {
        let scope = Scope::new(id, scope);
        let conn = Connection::new(id);
        let value = T::connect(&conn, &scope)?;
        let accept = value.accept(&scope);
        K::kept(id, &value);
        states.with(|s| s.borrow_mut().insert(id, value));
        Ok(accept)
    }

    /// Run `f` on connection `id`'s value, taken out of the map meanwhile
    /// so that no borrow is held across plugin code (which may, for
    /// instance, look at other connections), then keep it.
    #[inline(always)]
    fn with_value<T: Consumer, K: Keep<T>>(
        states: &'static States<T>,
        id: ConnectionId,
        f: impl FnOnce(&mut T, &Connection),
    ) {
        let Some(mut value) = states.with(|s| s.borrow_mut().remove(&id)) else {
            unknown(id);
            return;
        };
        f(&mut value, &Connection::new(id));
        K::kept(id, &value);
        states.with(|s| s.borrow_mut().insert(id, value));
    }

    pub fn on_message<T: Consumer, K: Keep<T>>(
        states: &'static States<T>,
        id: ConnectionId,
        msg: Message,
    ) {
        with_value::<T, K>(states, id, |v, conn| v.receive(conn, msg));
    }

    pub fn on_event<T: Consumer, K: Keep<T>>(
        states: &'static States<T>,
        id: ConnectionId,
        group: Option<String>,
        event: Message,
    ) {
        with_value::<T, K>(states, id, |v, conn| v.event(conn, group.as_deref(), event));
    }

    pub fn on_gap<T: Consumer, K: Keep<T>>(
        states: &'static States<T>,
        id: ConnectionId,
        group: String,
        lost: u64,
    ) {
        with_value::<T, K>(states, id, |v, conn| v.gap(conn, &group, lost));
    }

    pub fn on_disconnect<T: Consumer, K: Keep<T>>(
        states: &'static States<T>,
        id: ConnectionId,
        close: CloseInfo,
    ) {
        K::forget(id);
        if let Some(value) = states.with(|s| s.borrow_mut().remove(&id)) {
            value.disconnect(&Connection::new(id), close);
        }
    }
}
