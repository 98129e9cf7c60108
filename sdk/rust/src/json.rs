//! JSON in and out of messages (feature `json`), like Channels'
//! `JsonWebsocketConsumer`: `message.json::<T>()` decodes what arrived,
//! `conn.send_json(&value)` sends a value as a text message.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Connection, GroupError, Message, SendError};

/// Why a JSON message could not be read or sent.
#[derive(Debug)]
pub enum JsonError {
    /// The payload is not JSON of the expected shape, or the value cannot be
    /// encoded.
    Json(serde_json::Error),
    /// The host refused the send.
    Send(SendError),
    /// The host refused the broadcast.
    Group(GroupError),
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JsonError::Json(e) => write!(f, "invalid JSON: {e}"),
            JsonError::Send(e) => write!(f, "send refused: {e:?}"),
            JsonError::Group(e) => write!(f, "broadcast refused: {e:?}"),
        }
    }
}

impl std::error::Error for JsonError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JsonError::Json(e) => Some(e),
            JsonError::Send(_) | JsonError::Group(_) => None,
        }
    }
}

impl From<serde_json::Error> for JsonError {
    fn from(e: serde_json::Error) -> JsonError {
        JsonError::Json(e)
    }
}

impl From<SendError> for JsonError {
    fn from(e: SendError) -> JsonError {
        JsonError::Send(e)
    }
}

impl From<GroupError> for JsonError {
    fn from(e: GroupError) -> JsonError {
        JsonError::Group(e)
    }
}

/// Queue `value`, encoded once as JSON, for every member of `group` except
/// `exclude`; returns how many members it was queued for.
pub fn broadcast_json<T: Serialize + ?Sized>(
    group: &str,
    value: &T,
    exclude: Option<&Connection>,
) -> Result<u32, JsonError> {
    let text = serde_json::to_string(value)?;
    Ok(crate::groups::broadcast_text(group, text, exclude)?)
}

impl Message {
    /// Decode the payload (text or binary) as JSON into `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, JsonError> {
        Ok(serde_json::from_slice(self.as_bytes())?)
    }
}

impl Connection {
    /// Send `value` encoded as JSON in a text message.
    pub fn send_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), JsonError> {
        let text = serde_json::to_string(value)?;
        Ok(self.send(&Message::Text(text))?)
    }
}

// Plain Rust over the generated type, so tested on the host target
// (`cargo test --all-features` in sdk/rust).
#[cfg(test)]
mod tests {
    use crate::Message;

    #[test]
    fn json_decodes_text_and_binary_and_reports_errors() {
        let v: Vec<u32> = Message::Text("[1,2]".into()).json().expect("text JSON");
        assert_eq!(v, vec![1, 2]);
        let v: Vec<u32> = Message::Binary(b"[3]".to_vec())
            .json()
            .expect("binary JSON");
        assert_eq!(v, vec![3]);
        let e = Message::Text("{".into())
            .json::<Vec<u32>>()
            .expect_err("bad JSON");
        assert!(e.to_string().starts_with("invalid JSON"), "{e}");
    }
}
