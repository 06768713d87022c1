//! Redis's glob-style patterns for KEYS and SCAN MATCH (the rules of `stringmatchlen` in
//! Redis's `util.c`): `*` any run, `?` one byte, `[abc]`, `[^abc]`, `[a-z]` (reversed ends
//! swap), `\x` a literal `x`; an unterminated `[` ends the pattern; a range needs three
//! pattern bytes left, so in `[a-]` the `]` ends the range. As in Redis, the empty key
//! matches only the empty pattern and `*`, and a pattern with more than [`MAX_STARS`] `*` runs
//! matches nothing (Redis 7.0 stops its recursion at that nesting).
//!
//! The pattern is compiled to tokens once and matched with the two-pointer wildcard
//! algorithm (backtrack only to the last `*`), so the cost is O(pattern × key) even for
//! patterns like `a*a*a*…b` that make naive recursion exponential.

/// Most `*` runs a pattern may hold and still match (Redis's nesting limit).
pub const MAX_STARS: usize = 1000;

/// One compiled pattern element.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Star,
    Any,
    Byte(u8),
    /// A class: negated, single bytes and inclusive ranges.
    Class(bool, Vec<(u8, u8)>),
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    tokens: Vec<Token>,
    /// True for a pattern that is exactly `*`: matches every non-empty key.
    all: bool,
    /// True when the pattern has more than [`MAX_STARS`] star runs: it matches nothing.
    too_nested: bool,
}

impl Pattern {
    /// Compiles `p`.
    pub fn new(p: &[u8]) -> Pattern {
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < p.len() {
            match p[i] {
                b'*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                b'?' => tokens.push(Token::Any),
                b'[' => {
                    i += 1;
                    let neg = p.get(i) == Some(&b'^');
                    if neg {
                        i += 1;
                    }
                    let mut items = Vec::new();
                    loop {
                        if i >= p.len() {
                            break; // unterminated: the pattern ends here
                        }
                        if p[i] == b'\\' && p.len() - i >= 2 {
                            i += 1;
                            items.push((p[i], p[i]));
                        } else if p[i] == b']' {
                            break;
                        } else if p.len() - i >= 3 && p[i + 1] == b'-' {
                            let (a, b) = (p[i], p[i + 2]);
                            items.push((a.min(b), a.max(b)));
                            i += 2;
                        } else {
                            items.push((p[i], p[i]));
                        }
                        i += 1;
                    }
                    tokens.push(Token::Class(neg, items));
                }
                b'\\' if p.len() - i >= 2 => {
                    i += 1;
                    tokens.push(Token::Byte(p[i]));
                }
                c => tokens.push(Token::Byte(c)),
            }
            i += 1;
        }
        let all = tokens == [Token::Star];
        let too_nested = tokens.iter().filter(|t| **t == Token::Star).count() > MAX_STARS;
        Pattern { tokens, all, too_nested }
    }

    /// True if `s` matches.
    pub fn matches(&self, s: &[u8]) -> bool {
        // `*` alone matches every key, the empty one too (Redis's KEYS and SCAN check
        // for it before matching); otherwise the empty key matches only the empty pattern.
        if self.all {
            return true;
        }
        if s.is_empty() {
            return self.tokens.is_empty();
        }
        if self.too_nested {
            return false;
        }
        let t = &self.tokens;
        let (mut ti, mut si) = (0usize, 0usize);
        // The last star seen, and the key position its match currently ends at.
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            let step = match t.get(ti) {
                Some(Token::Star) => {
                    star = Some((ti, si));
                    ti += 1;
                    continue;
                }
                Some(Token::Any) => true,
                Some(Token::Byte(b)) => *b == s[si],
                Some(Token::Class(neg, items)) => {
                    items.iter().any(|&(a, b)| a <= s[si] && s[si] <= b) != *neg
                }
                None => false,
            };
            if step {
                ti += 1;
                si += 1;
            } else if let Some((st, ss)) = star {
                // Let the last star take one more byte and retry after it.
                star = Some((st, ss + 1));
                ti = st + 1;
                si = ss + 1;
            } else {
                return false;
            }
        }
        t[ti..].iter().all(|x| *x == Token::Star)
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    #[test]
    fn table_of_patterns() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "foo", true),
            ("*", "", true),
            ("?*", "", false),
            ("", "", true),
            ("foo*", "foobar", true),
            ("foo*", "fo", false),
            ("f?o", "foo", true),
            ("f?o", "fo", false),
            ("h[ae]llo", "hello", true),
            ("h[ae]llo", "hillo", false),
            ("h[^e]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h[b-a]llo", "hallo", true),
            ("h\\*llo", "h*llo", true),
            ("h\\*llo", "hello", false),
            ("a[", "ab", false),
            ("a[b", "ab", true),
            ("[a-]x", "]x", false),
            ("[a-]", "]", true),
            ("[\\]]", "]", true),
            ("*a*b", "xaxxb", true),
            ("a*a*a*a*a*a*a*a*a*a*b", &"a".repeat(60), false),
            ("key:*:x", "key:1:x", true),
            ("\\", "\\", true),
        ];
        let nested = "*?".repeat(50_000);
        assert!(!Pattern::new(nested.as_bytes()).matches("a".repeat(50_000).as_bytes()));
        for (p, s, want) in cases {
            assert_eq!(Pattern::new(p.as_bytes()).matches(s.as_bytes()), *want, "{p:?} vs {s:?}");
        }
    }
}
