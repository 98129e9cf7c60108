//! This host's group membership and the member lists broadcasts fan out
//! over.
//!
//! One lock guards the tables; a broadcast holds it only to take the group's
//! member list, an `Arc` snapshot rebuilt after a join or leave, and queues
//! to the members after letting go, so a broadcast to 10,000 members never
//! blocks joins, leaves or other broadcasts while it runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::MAX_GROUPS_PER_CONNECTION;

/// A group's members at one moment: connection id and member handle, in the
/// order they joined.
pub type Members<M> = Arc<[(u64, M)]>;

/// A group of one plugin: the plugin's name and the group's.
type Key = (Arc<str>, Arc<str>);

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The connection is in [`MAX_GROUPS_PER_CONNECTION`] groups already.
    #[error("the connection is already in {0} groups")]
    TooManyGroups(usize),
}

/// One group's members.
#[derive(Debug)]
struct Group<M> {
    /// Members in the order they joined.
    members: Vec<(u64, M)>,
    /// `members` as last shared with a broadcast; `None` after a change.
    snapshot: Option<Members<M>>,
}

impl<M: Clone> Group<M> {
    fn snapshot(&mut self) -> Members<M> {
        self.snapshot
            .get_or_insert_with(|| self.members.iter().cloned().collect())
            .clone()
    }
}

/// The tables behind the lock.
#[derive(Debug)]
struct Tables<M> {
    /// Every non-empty group.
    groups: HashMap<Key, Group<M>>,
    /// The groups each connection is in, so that it leaves them all when it
    /// closes.
    of_conn: HashMap<u64, Vec<Key>>,
}

/// Every group of this host's connections, all plugins together (each
/// plugin sees only its own).
#[derive(Debug)]
pub struct Groups<M> {
    /// Membership, both ways.
    tables: Mutex<Tables<M>>,
}

impl<M> Default for Groups<M> {
    fn default() -> Self {
        Groups {
            tables: Mutex::new(Tables {
                groups: HashMap::new(),
                of_conn: HashMap::new(),
            }),
        }
    }
}

impl<M: Clone> Groups<M> {
    fn lock(&self) -> MutexGuard<'_, Tables<M>> {
        // Each update leaves both maps consistent before anything can panic.
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Put connection `conn` (reached through `member`) in `plugin`'s
    /// `group`; true if it was not a member yet.
    pub fn join(
        &self,
        plugin: &Arc<str>,
        group: &str,
        conn: u64,
        member: M,
    ) -> Result<bool, JoinError> {
        let mut t = self.lock();
        let key: Key = (plugin.clone(), Arc::from(group));
        let of_conn = t.of_conn.entry(conn).or_default();
        if of_conn.contains(&key) {
            return Ok(false);
        }
        if of_conn.len() >= MAX_GROUPS_PER_CONNECTION {
            return Err(JoinError::TooManyGroups(MAX_GROUPS_PER_CONNECTION));
        }
        of_conn.push(key.clone());
        let g = t.groups.entry(key).or_insert_with(|| Group {
            members: Vec::new(),
            snapshot: None,
        });
        g.members.push((conn, member));
        g.snapshot = None;
        Ok(true)
    }

    /// Take `conn` out of `plugin`'s `group`; true if it was a member.
    pub fn leave(&self, plugin: &Arc<str>, group: &str, conn: u64) -> bool {
        let mut t = self.lock();
        let key: Key = (plugin.clone(), Arc::from(group));
        let Some(of_conn) = t.of_conn.get_mut(&conn) else {
            return false;
        };
        let Some(at) = of_conn.iter().position(|k| *k == key) else {
            return false;
        };
        of_conn.swap_remove(at);
        if of_conn.is_empty() {
            t.of_conn.remove(&conn);
        }
        Self::remove_member(&mut t, &key, conn);
        true
    }

    /// Take `conn` out of every group it is in (it has closed).
    pub fn leave_all(&self, conn: u64) {
        let mut t = self.lock();
        let Some(keys) = t.of_conn.remove(&conn) else {
            return;
        };
        for key in keys {
            Self::remove_member(&mut t, &key, conn);
        }
    }

    fn remove_member(t: &mut Tables<M>, key: &Key, conn: u64) {
        let Some(g) = t.groups.get_mut(key) else {
            return;
        };
        g.members.retain(|(id, _)| *id != conn);
        g.snapshot = None;
        if g.members.is_empty() {
            t.groups.remove(key);
        }
    }

    /// The members of `plugin`'s `group` now (empty if it has none).
    pub fn members(&self, plugin: &Arc<str>, group: &str) -> Members<M> {
        let mut t = self.lock();
        let key: Key = (plugin.clone(), Arc::from(group));
        match t.groups.get_mut(&key) {
            Some(g) => g.snapshot(),
            None => Arc::from(Vec::new()),
        }
    }

    /// How many connections are in `plugin`'s `group`.
    pub fn count(&self, plugin: &Arc<str>, group: &str) -> usize {
        let t = self.lock();
        let key: Key = (plugin.clone(), Arc::from(group));
        t.groups.get(&key).map_or(0, |g| g.members.len())
    }

    /// Non-empty groups, all plugins together.
    pub fn group_count(&self) -> usize {
        self.lock().groups.len()
    }

    /// Non-empty groups of one plugin.
    pub fn groups_of(&self, plugin: &str) -> usize {
        self.lock()
            .groups
            .keys()
            .filter(|(p, _)| &**p == plugin)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(m: &Members<&'static str>) -> Vec<u64> {
        m.iter().map(|(id, _)| *id).collect()
    }

    #[test]
    fn members_in_join_order_and_gone_when_they_leave_or_close() {
        let g = Groups::default();
        let (p, q): (Arc<str>, Arc<str>) = ("p".into(), "q".into());
        assert_eq!(g.join(&p, "room", 3, "c"), Ok(true));
        assert_eq!(g.join(&p, "room", 1, "a"), Ok(true));
        assert_eq!(g.join(&p, "room", 1, "a"), Ok(false), "twice is once");
        assert_eq!(g.join(&p, "other", 1, "a"), Ok(true));
        assert_eq!(g.join(&q, "room", 2, "b"), Ok(true));
        assert_eq!(ids(&g.members(&p, "room")), vec![3, 1]);
        assert_eq!(
            ids(&g.members(&q, "room")),
            vec![2],
            "plugins do not share groups"
        );
        let before = g.members(&p, "room");
        assert!(g.leave(&p, "room", 3));
        assert!(!g.leave(&p, "room", 3));
        assert_eq!(ids(&before), vec![3, 1], "a snapshot taken stays as it was");
        assert_eq!(ids(&g.members(&p, "room")), vec![1]);
        g.leave_all(1);
        assert_eq!(g.count(&p, "room"), 0);
        assert_eq!(g.count(&p, "other"), 0);
        assert_eq!(g.group_count(), 1);
        g.leave_all(2);
        assert_eq!(g.group_count(), 0, "empty groups are dropped");
    }

    #[test]
    fn a_connection_joins_a_bounded_number_of_groups() {
        let g = Groups::default();
        let p: Arc<str> = "p".into();
        for i in 0..MAX_GROUPS_PER_CONNECTION {
            assert_eq!(g.join(&p, &format!("g{i}"), 1, ()), Ok(true));
        }
        assert_eq!(
            g.join(&p, "one-more", 1, ()),
            Err(JoinError::TooManyGroups(MAX_GROUPS_PER_CONNECTION))
        );
        g.leave_all(1);
        assert_eq!(g.group_count(), 0);
    }
}
