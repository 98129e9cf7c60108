//! What hosts say to each other through the layer: frames (a group's or a
//! connection's message or event, stamped with the sender and a sequence
//! number) and notes about membership, and the channel names they travel
//! on.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{Kind, Payload};

/// Marks a frame of this format, so that foreign publishers on a shared
/// Redis are ignored rather than misread.
const MAGIC: &[u8; 3] = b"WS1";

/// The channel of `plugin`'s `group`. Plugin names have no `:`, so the
/// first one after the `g:` ends it.
pub fn group_channel(prefix: &str, plugin: &str, group: &str) -> String {
    format!("{prefix}:g:{plugin}:{group}")
}

/// The channel of host `host`'s connections, for sends by address.
pub fn host_channel(prefix: &str, host: &str) -> String {
    format!("{prefix}:h:{host}")
}

/// The channel every host's membership notes travel on.
pub fn members_channel(prefix: &str) -> String {
    format!("{prefix}:members")
}

/// The plugin and group of a group channel.
pub fn parse_group_channel<'a>(prefix: &str, channel: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = channel.strip_prefix(prefix)?.strip_prefix(":g:")?;
    rest.split_once(':')
}

/// A message or event from another host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The sending host.
    pub sender: String,
    /// The sender's sequence number on this channel, from 1.
    pub seq: u64,
    /// The recipient connection, for a send by address.
    pub conn: Option<u64>,
    /// The sending plugin, for a send by address: only that plugin's
    /// connections may receive it (empty for group frames, whose channel
    /// names the plugin).
    pub plugin: String,
    /// What it carries.
    pub payload: Payload,
}

/// Layout: `WS1`, kind (0 message, 1 event), binary (0/1), has-conn
/// (0/1), seq (u64 BE), conn (u64 BE), sender length (u8), sender, plugin
/// length (u8), plugin, data.
pub fn encode(sender: &str, seq: u64, to: Option<(&str, u64)>, payload: &Payload) -> Vec<u8> {
    let (plugin, conn) = match to {
        Some((plugin, conn)) => (plugin, Some(conn)),
        None => ("", None),
    };
    let mut out = Vec::with_capacity(25 + sender.len() + plugin.len() + payload.data.len());
    out.extend_from_slice(MAGIC);
    out.push(match payload.kind {
        Kind::Message => 0,
        Kind::Event => 1,
    });
    out.push(u8::from(payload.binary));
    out.push(u8::from(conn.is_some()));
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&conn.unwrap_or(0).to_be_bytes());
    // Host ids are at most 64 bytes (see `parse_address`).
    let sender = &sender.as_bytes()[..sender.len().min(255)];
    out.push(sender.len() as u8);
    out.extend_from_slice(sender);
    // Plugin names are short file stems.
    let plugin = &plugin.as_bytes()[..plugin.len().min(255)];
    out.push(plugin.len() as u8);
    out.extend_from_slice(plugin);
    out.extend_from_slice(&payload.data);
    out
}

/// A frame from its bytes; `None` if they are not one.
pub fn decode(bytes: Bytes) -> Option<Frame> {
    let head = bytes.get(..23)?;
    if &head[..3] != MAGIC {
        return None;
    }
    let kind = match head[3] {
        0 => Kind::Message,
        1 => Kind::Event,
        _ => return None,
    };
    let binary = match head[4] {
        0 => false,
        1 => true,
        _ => return None,
    };
    let has_conn = head[5] == 1;
    let seq = u64::from_be_bytes(head[6..14].try_into().ok()?);
    let conn = u64::from_be_bytes(head[14..22].try_into().ok()?);
    let len = usize::from(head[22]);
    let sender = std::str::from_utf8(bytes.get(23..23 + len)?)
        .ok()?
        .to_owned();
    let at = 23 + len;
    let plugin_len = usize::from(*bytes.get(at)?);
    let plugin = std::str::from_utf8(bytes.get(at + 1..at + 1 + plugin_len)?)
        .ok()?
        .to_owned();
    Some(Frame {
        sender,
        seq,
        conn: has_conn.then_some(conn),
        plugin,
        payload: Payload {
            kind,
            binary,
            data: bytes.slice(at + 1 + plugin_len..),
        },
    })
}

/// A note about membership, on the members channel, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
pub enum Note {
    /// A connection of `host` joined a group.
    Join {
        /// The host.
        host: String,
        /// The host's sequence number of membership notes.
        seq: u64,
        /// The plugin.
        plugin: String,
        /// The group.
        group: String,
        /// The connection.
        conn: u64,
    },
    /// A connection of `host` left a group (or closed).
    Leave {
        /// The host.
        host: String,
        /// As in `Join`.
        seq: u64,
        /// The plugin.
        plugin: String,
        /// The group.
        group: String,
        /// The connection.
        conn: u64,
    },
    /// `host` is alive; `seq` is its latest membership note, so that a
    /// lost one is noticed.
    Beat {
        /// The host.
        host: String,
        /// Its latest membership sequence number.
        seq: u64,
    },
    /// `host` asks `target` (every host when `None`) for its membership.
    Sync {
        /// Who asks.
        host: String,
        /// Who should answer.
        target: Option<String>,
    },
    /// All of `host`'s membership, as of its note `seq`.
    Full {
        /// The host.
        host: String,
        /// Its membership sequence number at the time.
        seq: u64,
        /// Plugin, group, connections in join order.
        groups: Vec<(String, String, Vec<u64>)>,
    },
    /// `host` is shutting down: forget it now rather than at its timeout.
    Bye {
        /// The host.
        host: String,
    },
}

impl Note {
    /// The host the note is from.
    pub fn host(&self) -> &str {
        match self {
            Note::Join { host, .. }
            | Note::Leave { host, .. }
            | Note::Beat { host, .. }
            | Note::Sync { host, .. }
            | Note::Full { host, .. }
            | Note::Bye { host } => host,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_foreign_bytes_are_refused() {
        let payload = Payload {
            kind: Kind::Event,
            binary: false,
            data: Bytes::from_static(b"{\"type\":\"chat.message\"}"),
        };
        for to in [None, Some(("chat", 42))] {
            let bytes = encode("ab12cd34", 7, to, &payload);
            let frame = decode(Bytes::from(bytes)).expect("a frame");
            assert_eq!(frame.sender, "ab12cd34");
            assert_eq!(frame.seq, 7);
            assert_eq!(frame.conn, to.map(|(_, c)| c));
            assert_eq!(frame.plugin, to.map_or("", |(p, _)| p));
            assert_eq!(frame.payload, payload);
        }
        assert_eq!(
            decode(Bytes::from_static(b"hello, world, not a frame")),
            None
        );
        assert_eq!(decode(Bytes::from_static(b"WS1")), None);
    }

    #[test]
    fn group_channels_name_their_plugin_and_group() {
        let c = group_channel("wasmsock", "chat", "room:lobby");
        assert_eq!(
            parse_group_channel("wasmsock", &c),
            Some(("chat", "room:lobby"))
        );
        assert_eq!(parse_group_channel("wasmsock", "wasmsock:members"), None);
    }

    #[test]
    fn notes_are_tagged_json() {
        let n = Note::Beat {
            host: "h".into(),
            seq: 3,
        };
        let text = serde_json::to_string(&n).expect("json");
        assert_eq!(text, r#"{"t":"beat","host":"h","seq":3}"#);
        assert_eq!(serde_json::from_str::<Note>(&text).expect("back"), n);
    }
}
