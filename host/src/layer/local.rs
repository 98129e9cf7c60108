//! This host's group membership and the member lists broadcasts fan out
//! over.
//!
//! The groups map has one lock; a broadcast holds it only to take the
//! group's member list, an `Arc` snapshot rebuilt after a join or leave, and
//! queues to the members after letting go, so a broadcast to 10,000 members
//! never blocks joins, leaves or other broadcasts while it runs. Lookups
//! borrow the names (no allocation per call). Which groups a connection is
//! in is kept apart, striped by connection id, so that a connection that
//! never joined a group closes without touching the groups lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::MAX_GROUPS_PER_CONNECTION;

/// A group's members at one moment: connection id and member handle, in the
/// order they joined.
pub type Members<M> = Arc<[(u64, M)]>;

/// A group of one plugin: the plugin's name and the group's.
pub type GroupKey = (Arc<str>, Arc<str>);

/// Stripes of the per-connection lists.
const STRIPES: usize = 64;

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

/// The groups of each connection of one stripe.
type OfConn = HashMap<u64, Vec<GroupKey>>;

/// Every non-empty group, by plugin, then by group name.
type GroupMap<M> = HashMap<Arc<str>, HashMap<Arc<str>, Group<M>>>;

/// Every group of this host's connections, all plugins together (each
/// plugin sees only its own).
#[derive(Debug)]
pub struct Groups<M> {
    /// Members of every group. Taken after a stripe of `of_conn`, never
    /// before.
    groups: Mutex<GroupMap<M>>,
    /// The groups each connection is in, striped by connection id, so that
    /// it leaves them all when it closes.
    of_conn: Box<[Mutex<OfConn>]>,
}

impl<M> Default for Groups<M> {
    fn default() -> Self {
        Groups {
            groups: Mutex::new(HashMap::new()),
            of_conn: (0..STRIPES).map(|_| Mutex::default()).collect(),
        }
    }
}

/// Ignore poisoning: each update leaves its map consistent before anything
/// can panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<M: Clone> Groups<M> {
    fn stripe(&self, conn: u64) -> MutexGuard<'_, OfConn> {
        lock(&self.of_conn[(conn % STRIPES as u64) as usize])
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
        let mut stripe = self.stripe(conn);
        let of_conn = stripe.entry(conn).or_default();
        if of_conn
            .iter()
            .any(|(p, g)| **p == **plugin && &**g == group)
        {
            return Ok(false);
        }
        if of_conn.len() >= MAX_GROUPS_PER_CONNECTION {
            return Err(JoinError::TooManyGroups(MAX_GROUPS_PER_CONNECTION));
        }
        let group: Arc<str> = Arc::from(group);
        of_conn.push((plugin.clone(), group.clone()));
        let mut groups = lock(&self.groups);
        let g = groups
            .entry(plugin.clone())
            .or_default()
            .entry(group)
            .or_insert_with(|| Group {
                members: Vec::new(),
                snapshot: None,
            });
        g.members.push((conn, member));
        g.snapshot = None;
        Ok(true)
    }

    /// Take `conn` out of `plugin`'s `group`; true if it was a member.
    pub fn leave(&self, plugin: &str, group: &str, conn: u64) -> bool {
        let mut stripe = self.stripe(conn);
        let Some(of_conn) = stripe.get_mut(&conn) else {
            return false;
        };
        let Some(at) = of_conn
            .iter()
            .position(|(p, g)| &**p == plugin && &**g == group)
        else {
            return false;
        };
        of_conn.swap_remove(at);
        if of_conn.is_empty() {
            stripe.remove(&conn);
        }
        self.remove_member(&mut lock(&self.groups), plugin, group, conn);
        true
    }

    /// Take `conn` out of every group it is in (it has closed); returns the
    /// groups it left.
    pub fn leave_all(&self, conn: u64) -> Vec<GroupKey> {
        let mut stripe = self.stripe(conn);
        let Some(keys) = stripe.remove(&conn) else {
            return Vec::new();
        };
        let mut groups = lock(&self.groups);
        for (plugin, group) in &keys {
            self.remove_member(&mut groups, plugin, group, conn);
        }
        keys
    }

    /// Reach `conn` through `member` in every group it is in, from now on:
    /// it moved to another instance (a reload, or a failed one rebuilt).
    pub fn update(&self, conn: u64, member: &M) {
        let stripe = self.stripe(conn);
        let Some(keys) = stripe.get(&conn) else {
            return;
        };
        let mut groups = lock(&self.groups);
        for (plugin, group) in keys {
            let Some(g) = groups.get_mut(plugin).and_then(|p| p.get_mut(group)) else {
                continue;
            };
            if let Some(slot) = g.members.iter_mut().find(|(id, _)| *id == conn) {
                slot.1 = member.clone();
                g.snapshot = None;
            }
        }
    }

    fn remove_member(&self, groups: &mut GroupMap<M>, plugin: &str, group: &str, conn: u64) {
        let Some(of_plugin) = groups.get_mut(plugin) else {
            return;
        };
        let Some(g) = of_plugin.get_mut(group) else {
            return;
        };
        g.members.retain(|(id, _)| *id != conn);
        g.snapshot = None;
        if g.members.is_empty() {
            of_plugin.remove(group);
            if of_plugin.is_empty() {
                groups.remove(plugin);
            }
        }
    }

    /// The members of `plugin`'s `group` now (empty if it has none).
    pub fn members(&self, plugin: &str, group: &str) -> Members<M> {
        let mut groups = lock(&self.groups);
        match groups.get_mut(plugin).and_then(|p| p.get_mut(group)) {
            Some(g) => g.snapshot(),
            None => Arc::from(Vec::new()),
        }
    }

    /// How many connections are in `plugin`'s `group`.
    pub fn count(&self, plugin: &str, group: &str) -> usize {
        lock(&self.groups)
            .get(plugin)
            .and_then(|p| p.get(group))
            .map_or(0, |g| g.members.len())
    }

    /// Non-empty groups, all plugins together.
    pub fn group_count(&self) -> usize {
        lock(&self.groups).values().map(HashMap::len).sum()
    }

    /// Non-empty groups of one plugin.
    pub fn groups_of(&self, plugin: &str) -> usize {
        lock(&self.groups).get(plugin).map_or(0, HashMap::len)
    }

    /// Non-empty groups and memberships of one plugin.
    pub fn figures_of(&self, plugin: &str) -> (usize, usize) {
        lock(&self.groups).get(plugin).map_or((0, 0), |p| {
            (p.len(), p.values().map(|g| g.members.len()).sum())
        })
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
        assert_eq!(ids(&g.members("p", "room")), vec![3, 1]);
        assert_eq!(
            ids(&g.members("q", "room")),
            vec![2],
            "plugins do not share groups"
        );
        let before = g.members("p", "room");
        assert!(g.leave("p", "room", 3));
        assert!(!g.leave("p", "room", 3));
        assert_eq!(ids(&before), vec![3, 1], "a snapshot taken stays as it was");
        assert_eq!(ids(&g.members("p", "room")), vec![1]);
        let mut left = g.leave_all(1);
        left.sort();
        assert_eq!(
            left,
            vec![(p.clone(), "other".into()), (p.clone(), "room".into())]
        );
        assert_eq!(g.count("p", "room"), 0);
        assert_eq!(g.count("p", "other"), 0);
        assert_eq!(g.group_count(), 1);
        assert_eq!(g.groups_of("q"), 1);
        assert!(g.leave_all(1).is_empty(), "a second close leaves nothing");
        g.leave_all(2);
        assert_eq!(g.group_count(), 0, "empty groups are dropped");
        assert_eq!(g.groups_of("q"), 0);
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
        assert_eq!(g.leave_all(1).len(), MAX_GROUPS_PER_CONNECTION);
        assert_eq!(g.group_count(), 0);
    }
}
