//! Stable actor paths (`broker_sup/sm_sup/sm/3`) and the globs that select them.
//!
//! A path is the child ids from the root joined by `/`. A child id is one or more segments
//! (`sm/3`, `listener_sup/mqtt:tcp:0.0.0.0:1883`); a key that comes from outside (a client id, a
//! peer address) may contain `/`, `*`, `%` or spaces, so it is percent-encoded into one segment
//! with [`encode_segment`] (`session/a%2Fb`). Globs: `*` matches one whole segment or part of one
//! (`sm/*`, `acceptor/1*`), `**` any number of segments (`**/session/*`).

/// Percent-encodes a key so that it is exactly one path segment.
pub fn encode_segment(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_' | b'.' | b':' | b'~' | b'@' | b'+' | b',' | b'=' | b'[' | b']'
            );
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Joins a parent path and a child id.
pub fn child_path(parent: &str, id: &str) -> String {
    if parent.is_empty() {
        id.to_string()
    } else {
        format!("{parent}/{id}")
    }
}

/// Whether `path` matches `glob` (`*` within one segment, `**` across segments).
pub fn glob_matches(glob: &str, path: &str) -> bool {
    let pattern: Vec<&str> = glob.split('/').collect();
    let segments: Vec<&str> = path.split('/').collect();
    match_segments(&pattern, &segments)
}

fn match_segments(pattern: &[&str], segments: &[&str]) -> bool {
    match pattern.split_first() {
        None => segments.is_empty(),
        Some((&"**", rest)) => (0..=segments.len()).any(|skip| match_segments(rest, &segments[skip..])),
        Some((first, rest)) => match segments.split_first() {
            Some((seg, seg_rest)) => segment_matches(first, seg) && match_segments(rest, seg_rest),
            None => false,
        },
    }
}

/// `*` inside a segment matches any run of characters within that segment.
fn segment_matches(pattern: &str, segment: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = segment.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// Checks a glob for the mistakes a user can make: empty segments or a `**` glued to text.
pub fn validate_glob(glob: &str) -> Result<(), String> {
    if glob.is_empty() {
        return Err("empty path glob".into());
    }
    for seg in glob.split('/') {
        if seg.is_empty() {
            return Err(format!("empty segment in path glob `{glob}`"));
        }
        if seg.contains("**") && seg != "**" {
            return Err(format!("`**` must be a whole segment in path glob `{glob}`"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_one_segment() {
        assert_eq!(encode_segment("a/b"), "a%2Fb");
        assert_eq!(encode_segment("x*y z%"), "x%2Ay%20z%25");
        assert_eq!(encode_segment("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(encode_segment("[::1]:5000"), "[::1]:5000");
    }

    #[test]
    fn globs() {
        assert!(glob_matches("broker_sup/sm_sup/sm/*", "broker_sup/sm_sup/sm/3"));
        assert!(!glob_matches("broker_sup/sm_sup/sm/*", "broker_sup/sm_sup/sm"));
        assert!(glob_matches(
            "**/session/*",
            "broker_sup/session_sup/session/a%2Fb"
        ));
        assert!(glob_matches("**", "a/b/c"));
        assert!(glob_matches("**/acceptor/1*", "x/acceptor_sup/acceptor/12"));
        assert!(!glob_matches("**/acceptor/1*", "x/acceptor_sup/acceptor/2"));
        assert!(glob_matches("a/**/c", "a/c"));
        assert!(glob_matches("*sup", "broker_sup"));
        assert!(glob_matches("b*r_*p", "broker_sup"));
        assert!(!glob_matches("b*x", "broker_sup"));
    }

    #[test]
    fn bad_globs() {
        assert!(validate_glob("").is_err());
        assert!(validate_glob("a//b").is_err());
        assert!(validate_glob("a/x**").is_err());
        assert!(validate_glob("**/sm/*").is_ok());
    }
}
