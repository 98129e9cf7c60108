//! Who a connection is, as its handshake established it: the claims of the
//! token the host verified and the values the plugin's middleware chain
//! added. Admission builds it step by step; the connection keeps it (in its
//! [`Kept`](super::state::Kept), so it moves with the connection on a
//! reload) and the plugin reads it through `wasmsock:plugin/identity`.

/// What the handshake established about a connection. Anonymous
/// connections carry none at all, so they pay nothing for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The token's `sub` claim, or the last `user` value a middleware
    /// added: the name a plugin greets or authorises.
    pub subject: Option<String>,
    /// The verified token's claims, as a JSON object's text.
    pub claims: Option<String>,
    /// What the middleware chain added, in order.
    pub values: Vec<(String, String)>,
}

impl Identity {
    /// Add what one middleware returned; a value named `user` becomes the
    /// subject, so a session middleware names the connection's user.
    pub fn add(&mut self, values: Vec<(String, String)>) {
        for (name, value) in values {
            if name == "user" {
                self.subject = Some(value.clone());
            }
            self.values.push((name, value));
        }
    }

    /// True when nothing was established: the connection is anonymous.
    pub fn is_empty(&self) -> bool {
        self.subject.is_none() && self.claims.is_none() && self.values.is_empty()
    }
}
