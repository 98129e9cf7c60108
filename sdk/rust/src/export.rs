//! [`export_consumer!`](crate::export_consumer!), which a plugin invokes
//! once to make a component of its [`Consumer`](crate::Consumer) type, and
//! the functions its expansion calls.

/// Make a component of a [`Consumer`](crate::Consumer) type: generates the
/// WIT `handler` export and the per-connection state map. Invoke once, at
/// the crate root of a `cdylib`: `wasmsock_sdk::export_consumer!(MyConsumer);`.
#[macro_export]
macro_rules! export_consumer {
    ($ty:ty) => {
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
                    scope: $crate::Scope,
                ) -> ::core::result::Result<$crate::Accept, $crate::Reject> {
                    $crate::__private::on_connect::<$ty>(&STATES, conn, scope)
                }

                fn on_message(conn: $crate::ConnectionId, message: $crate::Message) {
                    $crate::__private::on_message::<$ty>(&STATES, conn, message)
                }

                fn on_disconnect(conn: $crate::ConnectionId, info: $crate::CloseInfo) {
                    $crate::__private::on_disconnect::<$ty>(&STATES, conn, info)
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
                    $crate::__private::on_event::<$ty>(&STATES, conn, group, event)
                }

                fn on_gap(conn: $crate::ConnectionId, group: ::std::string::String, lost: u64) {
                    $crate::__private::on_gap::<$ty>(&STATES, conn, group, lost)
                }
            }

    $crate::bindings::export!(WasmsockExport with_types_in $crate::bindings);
        };
    };
}

/// Used by [`export_consumer!`](crate::export_consumer!); not part of the
/// API. Re-exported as `wasmsock_sdk::__private`, the path the macro names.
#[doc(hidden)]
pub mod __private {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::thread::LocalKey;

    use crate::{Accept, CloseInfo, Connection, ConnectionId, Consumer, Message, Reject, Scope};

    /// The per-connection values of one instance, by connection id.
    pub type States<T> = LocalKey<RefCell<HashMap<ConnectionId, T>>>;

    pub fn on_connect<T: Consumer>(
        states: &'static States<T>,
        id: ConnectionId,
        scope: Scope,
    ) -> Result<Accept, Reject> {
        let conn = Connection::new(id);
        let value = T::connect(&conn, &scope)?;
        let accept = value.accept(&scope);
        states.with(|s| s.borrow_mut().insert(id, value));
        Ok(accept)
    }

    pub fn on_message<T: Consumer>(states: &'static States<T>, id: ConnectionId, msg: Message) {
        // Taken out while the consumer runs, so no borrow is held across
        // plugin code (which may, for instance, look at other connections).
        let Some(mut value) = states.with(|s| s.borrow_mut().remove(&id)) else {
            return; // not accepted by this instance: nothing to deliver to
        };
        value.receive(&Connection::new(id), msg);
        states.with(|s| s.borrow_mut().insert(id, value));
    }

    /// Run `f` on connection `id`'s value, taken out of the map meanwhile.
    fn with_value<T: Consumer>(
        states: &'static States<T>,
        id: ConnectionId,
        f: impl FnOnce(&mut T, &Connection),
    ) {
        let Some(mut value) = states.with(|s| s.borrow_mut().remove(&id)) else {
            return;
        };
        f(&mut value, &Connection::new(id));
        states.with(|s| s.borrow_mut().insert(id, value));
    }

    pub fn on_event<T: Consumer>(
        states: &'static States<T>,
        id: ConnectionId,
        group: Option<String>,
        event: Message,
    ) {
        with_value(states, id, |v, conn| v.event(conn, group.as_deref(), event));
    }

    pub fn on_gap<T: Consumer>(
        states: &'static States<T>,
        id: ConnectionId,
        group: String,
        lost: u64,
    ) {
        with_value(states, id, |v, conn| v.gap(conn, &group, lost));
    }

    pub fn on_disconnect<T: Consumer>(
        states: &'static States<T>,
        id: ConnectionId,
        close: CloseInfo,
    ) {
        if let Some(value) = states.with(|s| s.borrow_mut().remove(&id)) {
            value.disconnect(&Connection::new(id), close);
        }
    }
}
