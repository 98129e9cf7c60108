//! Route patterns (`/chat/{room}`) and the table that maps a request path to
//! the plugin serving it.
//!
//! Matching is by segment. A literal segment is more specific than a `{param}`
//! one, compared from the left, so `/chat/lobby` beats `/chat/{room}` and
//! `/chat/{room}/admin` beats `/chat/{room}/{page}`. Two patterns that differ
//! only in parameter names are the same route and conflict.

use std::fmt;
use std::sync::Arc;

/// Why a route pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// Patterns are absolute paths.
    #[error("a route must start with '/'")]
    NotAbsolute,
    /// A segment such as `a{b}` or `{}`.
    #[error("segment {0:?}: a parameter is a whole segment `{{name}}` with a name of letters, digits, '_' or '-'")]
    BadParam(String),
    /// The same `{name}` twice.
    #[error("parameter {0:?} appears twice")]
    DuplicateParam(String),
    /// Characters that cannot appear in a request path.
    #[error("segment {0:?} contains characters not allowed in a path (space, '?', '#', control characters)")]
    BadChar(String),
    /// `//` in the middle of a pattern.
    #[error("empty segment (\"//\")")]
    EmptySegment,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Segment {
    Literal(String),
    Param(String),
}

/// A parsed route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    text: String,
    segments: Vec<Segment>,
}

impl fmt::Display for RoutePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    // "/" has no segments; a trailing slash is not significant.
    path.trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
}

impl RoutePattern {
    /// Parse a pattern such as `/chat/{room}`.
    pub fn parse(text: &str) -> Result<RoutePattern, PatternError> {
        if !text.starts_with('/') {
            return Err(PatternError::NotAbsolute);
        }
        let trimmed = text.trim_start_matches('/').trim_end_matches('/');
        let mut segments = Vec::new();
        if !trimmed.is_empty() {
            for seg in trimmed.split('/') {
                if seg.is_empty() {
                    return Err(PatternError::EmptySegment);
                }
                if seg
                    .chars()
                    .any(|c| c.is_control() || c == ' ' || c == '?' || c == '#')
                {
                    return Err(PatternError::BadChar(seg.to_string()));
                }
                if seg.contains('{') || seg.contains('}') {
                    let name = seg
                        .strip_prefix('{')
                        .and_then(|s| s.strip_suffix('}'))
                        .filter(|n| {
                            !n.is_empty()
                                && n.chars()
                                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                        })
                        .ok_or_else(|| PatternError::BadParam(seg.to_string()))?;
                    if segments
                        .iter()
                        .any(|s| matches!(s, Segment::Param(p) if p == name))
                    {
                        return Err(PatternError::DuplicateParam(name.to_string()));
                    }
                    segments.push(Segment::Param(name.to_string()));
                } else {
                    segments.push(Segment::Literal(seg.to_string()));
                }
            }
        }
        Ok(RoutePattern {
            text: text.to_string(),
            segments,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Match `path`, returning the captured parameters in pattern order.
    pub fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        let mut params = Vec::new();
        let mut parts = split(path);
        for seg in &self.segments {
            let part = parts.next()?;
            match seg {
                Segment::Literal(l) if l == part => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => params.push((name.clone(), part.to_string())),
            }
        }
        if parts.next().is_some() {
            return None;
        }
        Some(params)
    }

    /// The shape of the pattern with parameter names erased: two patterns
    /// with the same shape match exactly the same paths.
    fn shape(&self) -> Vec<Option<&str>> {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => Some(l.as_str()),
                Segment::Param(_) => None,
            })
            .collect()
    }

    /// Specificity key: literal segments first, from the left.
    fn specificity(&self) -> Vec<bool> {
        self.segments
            .iter()
            .map(|s| matches!(s, Segment::Literal(_)))
            .collect()
    }

    /// True when both patterns match exactly the same paths.
    pub fn same_route(&self, other: &RoutePattern) -> bool {
        self.shape() == other.shape()
    }
}

/// A successful lookup.
#[derive(Debug)]
pub struct RouteMatch<T> {
    /// The entry's value (a plugin).
    pub target: Arc<T>,
    /// The pattern that matched.
    pub pattern: RoutePattern,
    /// Captured parameters.
    pub params: Vec<(String, String)>,
}

/// A route refused because an earlier entry has the same shape: the
/// refused pattern, its target, and the pattern that keeps the route.
pub type Conflict<T> = (RoutePattern, Arc<T>, RoutePattern);

/// An immutable route table; the registry builds a new one on every change
/// and swaps it in whole, so lookups never take a lock.
#[derive(Debug)]
pub struct RouteTable<T> {
    /// Entries ordered most specific first.
    entries: Vec<(RoutePattern, Arc<T>)>,
}

impl<T> Default for RouteTable<T> {
    fn default() -> Self {
        RouteTable {
            entries: Vec::new(),
        }
    }
}

impl<T> RouteTable<T> {
    /// Build a table. Entries whose route is already taken by an earlier entry
    /// are returned as conflicts (the earlier one keeps the route).
    pub fn build(
        entries: impl IntoIterator<Item = (RoutePattern, Arc<T>)>,
    ) -> (RouteTable<T>, Vec<Conflict<T>>) {
        let mut kept: Vec<(RoutePattern, Arc<T>)> = Vec::new();
        let mut conflicts = Vec::new();
        for (pattern, target) in entries {
            if let Some((existing, _)) = kept.iter().find(|(p, _)| p.same_route(&pattern)) {
                let existing = existing.clone();
                conflicts.push((pattern, target, existing));
            } else {
                kept.push((pattern, target));
            }
        }
        // Sorting by specificity (descending) makes the first match the most
        // specific one: among patterns matching one path (same length), the
        // literal/param sequence decides.
        kept.sort_by_key(|e| std::cmp::Reverse(e.0.specificity()));
        (RouteTable { entries: kept }, conflicts)
    }

    /// Find the most specific route matching `path`.
    pub fn lookup(&self, path: &str) -> Option<RouteMatch<T>> {
        self.entries.iter().find_map(|(pattern, target)| {
            pattern.matches(path).map(|params| RouteMatch {
                target: target.clone(),
                pattern: pattern.clone(),
                params,
            })
        })
    }

    /// Every route and its target, most specific first.
    pub fn iter(&self) -> impl Iterator<Item = (&RoutePattern, &Arc<T>)> {
        self.entries.iter().map(|(p, t)| (p, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RoutePattern {
        RoutePattern::parse(s).expect("valid pattern")
    }

    #[test]
    fn parses_and_rejects() {
        assert_eq!(RoutePattern::parse("chat"), Err(PatternError::NotAbsolute));
        assert!(matches!(
            RoutePattern::parse("/a{b}"),
            Err(PatternError::BadParam(_))
        ));
        assert!(matches!(
            RoutePattern::parse("/{}"),
            Err(PatternError::BadParam(_))
        ));
        assert!(matches!(
            RoutePattern::parse("/{a}/{a}"),
            Err(PatternError::DuplicateParam(_))
        ));
        assert_eq!(
            RoutePattern::parse("/a//b"),
            Err(PatternError::EmptySegment)
        );
        assert!(matches!(
            RoutePattern::parse("/a b"),
            Err(PatternError::BadChar(_))
        ));
        assert!(RoutePattern::parse("/").is_ok());
    }

    #[test]
    fn matches_and_captures() {
        let pat = p("/chat/{room}/{user}");
        assert_eq!(
            pat.matches("/chat/lobby/ann"),
            Some(vec![
                ("room".into(), "lobby".into()),
                ("user".into(), "ann".into())
            ])
        );
        assert_eq!(pat.matches("/chat/lobby"), None);
        assert_eq!(pat.matches("/chat/lobby/ann/x"), None);
        assert_eq!(p("/").matches("/"), Some(vec![]));
        assert_eq!(p("/echo").matches("/echo/"), Some(vec![]));
    }

    #[test]
    fn most_specific_wins_whatever_the_order() {
        let routes = [
            "/chat/{room}/{page}",
            "/chat/{room}/admin",
            "/chat/lobby/{page}",
            "/chat/lobby/admin",
        ];
        for rotation in 0..routes.len() {
            let entries = routes
                .iter()
                .cycle()
                .skip(rotation)
                .take(routes.len())
                .map(|r| (p(r), Arc::new(r.to_string())));
            let (table, conflicts) = RouteTable::build(entries);
            assert!(conflicts.is_empty());
            let get = |path: &str| table.lookup(path).map(|m| m.target.as_str().to_string());
            assert_eq!(
                get("/chat/lobby/admin").as_deref(),
                Some("/chat/lobby/admin")
            );
            assert_eq!(get("/chat/lobby/x").as_deref(), Some("/chat/lobby/{page}"));
            assert_eq!(
                get("/chat/other/admin").as_deref(),
                Some("/chat/{room}/admin")
            );
            assert_eq!(get("/chat/other/x").as_deref(), Some("/chat/{room}/{page}"));
            assert!(get("/chat").is_none());
        }
    }

    #[test]
    fn same_shape_conflicts_first_keeps_it() {
        let (table, conflicts) =
            RouteTable::build([(p("/c/{a}"), Arc::new(1)), (p("/c/{b}"), Arc::new(2))]);
        assert_eq!(conflicts.len(), 1);
        assert_eq!(*conflicts[0].1, 2);
        assert_eq!(*table.lookup("/c/x").expect("match").target, 1);
    }
}
