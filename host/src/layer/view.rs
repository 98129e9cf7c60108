//! What one host knows of the others: their members per group, when each
//! was last heard from, and the sequence numbers of what they sent, to
//! count what never arrived.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::wire::Note;

/// One other host's membership.
#[derive(Debug)]
struct HostView {
    /// When it was last heard from.
    heard: Instant,
    /// Its latest membership note applied.
    seq: u64,
    /// Its members by plugin and group, in join order.
    groups: HashMap<(String, String), Vec<u64>>,
}

/// Other hosts' membership, replicated from their notes.
#[derive(Debug, Default)]
pub struct View {
    /// By host id.
    hosts: HashMap<String, HostView>,
}

/// What applying a note calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followup {
    /// Nothing.
    None,
    /// A note was missed, or the host is new: ask it for its membership.
    Resync(String),
}

impl View {
    /// Apply a note from another host.
    pub fn apply(&mut self, note: Note, now: Instant) -> Followup {
        match note {
            Note::Join {
                host,
                seq,
                plugin,
                group,
                conn,
            } => self.delta(host, seq, now, |groups| {
                let members = groups.entry((plugin, group)).or_default();
                if !members.contains(&conn) {
                    members.push(conn);
                }
            }),
            Note::Leave {
                host,
                seq,
                plugin,
                group,
                conn,
            } => self.delta(host, seq, now, |groups| {
                let key = (plugin, group);
                if let Some(members) = groups.get_mut(&key) {
                    members.retain(|c| *c != conn);
                    if members.is_empty() {
                        groups.remove(&key);
                    }
                }
            }),
            Note::Beat { host, seq } => match self.hosts.get_mut(&host) {
                Some(h) => {
                    h.heard = now;
                    if seq > h.seq {
                        Followup::Resync(host)
                    } else {
                        Followup::None
                    }
                }
                None => Followup::Resync(host),
            },
            Note::Full { host, seq, groups } => {
                let groups = groups
                    .into_iter()
                    .filter(|(_, _, conns)| !conns.is_empty())
                    .map(|(p, g, conns)| ((p, g), conns))
                    .collect();
                self.hosts.insert(
                    host,
                    HostView {
                        heard: now,
                        seq,
                        groups,
                    },
                );
                Followup::None
            }
            Note::Bye { host } => {
                self.hosts.remove(&host);
                Followup::None
            }
            Note::Sync { .. } => Followup::None,
        }
    }

    /// Apply a join or leave numbered `seq` from `host`.
    fn delta(
        &mut self,
        host: String,
        seq: u64,
        now: Instant,
        change: impl FnOnce(&mut HashMap<(String, String), Vec<u64>>),
    ) -> Followup {
        let known = self.hosts.contains_key(&host);
        let h = self.hosts.entry(host.clone()).or_insert_with(|| HostView {
            heard: now,
            seq: 0,
            groups: HashMap::new(),
        });
        h.heard = now;
        if known && seq <= h.seq {
            // Already in a full snapshot applied since.
            return Followup::None;
        }
        let missed = !known || seq > h.seq + 1;
        h.seq = seq;
        change(&mut h.groups);
        if missed {
            Followup::Resync(host)
        } else {
            Followup::None
        }
    }

    /// Forget hosts not heard from within `timeout`; returns them.
    pub fn reap(&mut self, now: Instant, timeout: Duration) -> Vec<String> {
        let dead: Vec<String> = self
            .hosts
            .iter()
            .filter(|(_, h)| now.duration_since(h.heard) > timeout)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &dead {
            self.hosts.remove(id);
        }
        dead
    }

    /// True if `host` is alive as far as this host knows.
    pub fn knows(&self, host: &str) -> bool {
        self.hosts.contains_key(host)
    }

    /// Other hosts alive.
    pub fn hosts(&self) -> usize {
        self.hosts.len()
    }

    /// Members of `plugin`'s `group` on other hosts.
    pub fn count(&self, plugin: &str, group: &str) -> usize {
        let key = (plugin.to_owned(), group.to_owned());
        self.hosts
            .values()
            .filter_map(|h| h.groups.get(&key))
            .map(Vec::len)
            .sum()
    }

    /// Members of `plugin`'s `group` on other hosts, as addresses, host by
    /// host (sorted by host id), each in join order.
    pub fn members(&self, plugin: &str, group: &str) -> Vec<String> {
        let key = (plugin.to_owned(), group.to_owned());
        let mut hosts: Vec<_> = self.hosts.iter().collect();
        hosts.sort_by(|a, b| a.0.cmp(b.0));
        hosts
            .into_iter()
            .filter_map(|(id, h)| h.groups.get(&key).map(|m| (id, m)))
            .flat_map(|(id, m)| m.iter().map(move |c| super::address(id, *c)))
            .collect()
    }
}

/// The last sequence number seen per sender and channel.
#[derive(Debug, Default)]
pub struct Seqs {
    /// By channel, then sender.
    last: HashMap<String, HashMap<String, u64>>,
}

impl Seqs {
    /// Record `seq` from `sender` on `channel`; returns how many frames
    /// before it never arrived. The first frame seen from a sender, and a
    /// number that does not move forward (the sender restarted its count),
    /// start a new baseline.
    pub fn check(&mut self, channel: &str, sender: &str, seq: u64) -> u64 {
        let of_channel = match self.last.get_mut(channel) {
            Some(c) => c,
            None => self.last.entry(channel.to_owned()).or_default(),
        };
        match of_channel.get_mut(sender) {
            Some(last) => {
                let lost = if seq > *last { seq - *last - 1 } else { 0 };
                *last = seq;
                lost
            }
            None => {
                of_channel.insert(sender.to_owned(), seq);
                0
            }
        }
    }

    /// Forget a channel this host no longer listens to: what is sent on it
    /// meanwhile is not lost to it.
    pub fn forget(&mut self, channel: &str) {
        self.last.remove(channel);
    }

    /// Forget a sender that is gone.
    pub fn forget_sender(&mut self, sender: &str) {
        for of_channel in self.last.values_mut() {
            of_channel.remove(sender);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(host: &str, seq: u64, group: &str, conn: u64) -> Note {
        Note::Join {
            host: host.into(),
            seq,
            plugin: "chat".into(),
            group: group.into(),
            conn,
        }
    }

    #[test]
    fn notes_build_the_view_and_a_missed_one_asks_for_a_resync() {
        let mut v = View::default();
        let t = Instant::now();
        let full = Note::Full {
            host: "a".into(),
            seq: 1,
            groups: vec![("chat".into(), "lobby".into(), vec![1])],
        };
        assert_eq!(v.apply(full, t), Followup::None);
        assert_eq!(v.apply(join("a", 2, "lobby", 2), t), Followup::None);
        assert_eq!(
            v.apply(join("a", 2, "lobby", 3), t),
            Followup::None,
            "stale"
        );
        assert_eq!(v.members("chat", "lobby"), vec!["a.1", "a.2"]);
        assert_eq!(
            v.apply(join("a", 5, "lobby", 9), t),
            Followup::Resync("a".into())
        );
        assert_eq!(
            v.apply(join("b", 1, "lobby", 4), t),
            Followup::Resync("b".into())
        );
        assert_eq!(v.count("chat", "lobby"), 4);
        let beat = Note::Beat {
            host: "b".into(),
            seq: 2,
        };
        assert_eq!(v.apply(beat, t), Followup::Resync("b".into()));
    }

    #[test]
    fn a_silent_host_is_forgotten() {
        let mut v = View::default();
        let t = Instant::now();
        v.apply(join("a", 1, "lobby", 1), t);
        assert!(v
            .reap(t + Duration::from_secs(1), Duration::from_secs(3))
            .is_empty());
        assert_eq!(
            v.reap(t + Duration::from_secs(4), Duration::from_secs(3)),
            vec!["a".to_owned()]
        );
        assert_eq!(v.count("chat", "lobby"), 0);
        assert!(!v.knows("a"));
    }

    #[test]
    fn gaps_are_counted_per_sender_and_channel() {
        let mut s = Seqs::default();
        assert_eq!(s.check("c", "a", 5), 0, "first frame: a baseline");
        assert_eq!(s.check("c", "a", 6), 0);
        assert_eq!(s.check("c", "a", 9), 2);
        assert_eq!(s.check("c", "b", 1), 0);
        assert_eq!(s.check("c", "a", 1), 0, "a restart: a new baseline");
        s.forget("c");
        assert_eq!(s.check("c", "a", 50), 0);
    }
}
