//! [`Message`]: one WebSocket data message, and readers that do not care
//! whether it is text or binary.

/// One complete WebSocket data message: text or binary.
pub use crate::bindings::wasmsock::plugin::types::Message;

impl Message {
    /// The text of a text message; `None` for binary.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(t) => Some(t),
            Message::Binary(_) => None,
        }
    }

    /// The payload as bytes, whatever the kind.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// True for an empty payload.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `"text"` or `"binary"`, for log lines.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Text(_) => "text",
            Message::Binary(_) => "binary",
        }
    }
}

// Plain Rust over the generated type, so tested on the host target
// (`cargo test --all-features` in sdk/rust).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_helpers() {
        let t = Message::Text("héllo".into());
        assert_eq!((t.kind(), t.len(), t.as_text()), ("text", 6, Some("héllo")));
        let b = Message::Binary(vec![1, 2]);
        assert_eq!(
            (b.kind(), b.as_bytes(), b.as_text()),
            ("binary", &[1u8, 2][..], None)
        );
        assert!(Message::Binary(Vec::new()).is_empty());
    }
}
