//! The four SCRAM messages' grammar (RFC 5802 section 7), parsed for both sides: the server
//! ([`super`]) reads client-first and client-final, the test client ([`super::client`])
//! server-first and server-final. Every function returns `Err(reason)` on input that breaks
//! the grammar; the reason never quotes the input (it ends up in logs).
//!
//! Attribute values never contain `,` (base64, nonces and escaped names cannot), so a message
//! is split on `,` into `x=value` attributes.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

/// The message as text: printable ASCII only (the module docs of [`super`] on SASLprep).
pub(super) fn text(data: &[u8]) -> Result<&str, String> {
    if !data.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err("not printable ASCII".into());
    }
    std::str::from_utf8(data).map_err(|_| "not printable ASCII".into())
}

/// client-first-message.
pub(super) struct ClientFirst<'a> {
    /// `n,,` or `y,,` (what client-final's `c=` must repeat).
    pub gs2_header: &'a str,
    /// Whether the gs2 header names an authorization identity (`a=`).
    pub authzid: bool,
    /// client-first-message-bare, for AuthMessage.
    pub bare: &'a str,
    /// The user name, unescaped.
    pub username: String,
    /// The client's nonce.
    pub nonce: &'a str,
}

impl<'a> ClientFirst<'a> {
    pub(super) fn parse(text: &'a str) -> Result<Self, String> {
        let mut gs2 = text.splitn(3, ',');
        let (Some(flag), Some(authz), Some(bare)) = (gs2.next(), gs2.next(), gs2.next()) else {
            return Err("client-first has no gs2 header".into());
        };
        match flag {
            "n" | "y" => {}
            _ if flag.starts_with("p=") => return Err("channel binding (p=) is not supported".into()),
            _ => return Err("the gs2 flag is not n, y or p=".into()),
        }
        let authzid = match authz {
            "" => false,
            _ => {
                unescape(attribute(authz, 'a')?)?;
                true
            }
        };
        let mut parts = bare.split(',');
        let user = parts.next().unwrap_or_default();
        if user.starts_with("m=") {
            return Err("the mandatory extension m= is not supported".into());
        }
        let username = unescape(attribute(user, 'n')?)?;
        let nonce = nonce(parts.next())?;
        extensions(parts)?;
        Ok(Self {
            gs2_header: &text[..flag.len() + authz.len() + 2],
            authzid,
            bare,
            username,
            nonce,
        })
    }
}

/// server-first-message.
pub(super) struct ServerFirst<'a> {
    /// Client nonce followed by the server's.
    pub nonce: &'a str,
    pub salt: Vec<u8>,
    pub iterations: u32,
}

impl<'a> ServerFirst<'a> {
    pub(super) fn parse(text: &'a str) -> Result<Self, String> {
        let mut parts = text.split(',');
        let first = parts.next().unwrap_or_default();
        if first.starts_with("m=") {
            return Err("the mandatory extension m= is not supported".into());
        }
        let nonce = nonce(Some(first))?;
        let salt = base64(attribute(parts.next().unwrap_or_default(), 's')?)?;
        let iterations = attribute(parts.next().unwrap_or_default(), 'i')?
            .parse::<u32>()
            .ok()
            .filter(|&i| i > 0)
            .ok_or("i= is not a positive number")?;
        extensions(parts)?;
        Ok(Self {
            nonce,
            salt,
            iterations,
        })
    }
}

/// client-final-message.
pub(super) struct ClientFinal<'a> {
    /// `c=`, decoded: the gs2 header (no channel binding data).
    pub channel_binding: Vec<u8>,
    pub nonce: &'a str,
    /// client-final-message-without-proof, for AuthMessage.
    pub without_proof: &'a str,
    /// `p=`, decoded: 32 bytes.
    pub proof: Vec<u8>,
}

impl<'a> ClientFinal<'a> {
    pub(super) fn parse(text: &'a str) -> Result<Self, String> {
        let (without_proof, proof) = text.rsplit_once(',').ok_or("client-final has no proof")?;
        let proof = base64(attribute(proof, 'p')?)?;
        if proof.len() != 32 {
            return Err("p= is not 32 bytes".into());
        }
        let mut parts = without_proof.split(',');
        let channel_binding = base64(attribute(parts.next().unwrap_or_default(), 'c')?)?;
        let nonce = nonce(parts.next())?;
        extensions(parts)?;
        Ok(Self {
            channel_binding,
            nonce,
            without_proof,
            proof,
        })
    }
}

/// server-final-message: the server signature (`v=`), or the server's error (`e=`) as `Err`.
pub(super) fn server_final(text: &str) -> Result<Vec<u8>, String> {
    let mut parts = text.split(',');
    let first = parts.next().unwrap_or_default();
    if let Some(error) = first.strip_prefix("e=") {
        return Err(format!("server error: {error}"));
    }
    let signature = base64(attribute(first, 'v')?)?;
    extensions(parts)?;
    Ok(signature)
}

/// `saslname` escaping: `=` → `=3D`, `,` → `=2C`.
pub(super) fn escape(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

fn unescape(name: &str) -> Result<String, String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let (char, after) = match rest.get(at..at + 3) {
            Some("=2C") => (',', at + 3),
            Some("=3D") => ('=', at + 3),
            _ => return Err("a user name has an `=` that is not =2C or =3D".into()),
        };
        out.push(char);
        rest = &rest[after..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The value of `part` if it is `<name>=<non-empty value>`.
fn attribute(part: &str, name: char) -> Result<&str, String> {
    part.strip_prefix(name)
        .and_then(|r| r.strip_prefix('='))
        .filter(|value| !value.is_empty())
        .ok_or_else(|| format!("expected a non-empty {name}= attribute"))
}

/// `r=`: printable, no `,` (already) and no space.
fn nonce(part: Option<&str>) -> Result<&str, String> {
    let value = attribute(part.unwrap_or_default(), 'r')?;
    if value.contains(' ') {
        return Err("the nonce has a space".into());
    }
    Ok(value)
}

fn base64(value: &str) -> Result<Vec<u8>, String> {
    B64.decode(value).map_err(|_| "an attribute is not base64".into())
}

/// Optional extensions: each must be `<letter>=<value>`; their meaning is ignored.
fn extensions<'a>(parts: impl Iterator<Item = &'a str>) -> Result<(), String> {
    for part in parts {
        let mut chars = part.chars();
        let well_formed = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.next() == Some('=')
            && chars.next().is_some();
        if !well_formed {
            return Err("an extension is not x=value".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_round_trip_through_the_escapes() {
        for name in ["plain", "a,b", "a=b", "=2C", ",=,", "x=3Dy"] {
            assert_eq!(unescape(&escape(name)).unwrap(), name);
        }
        assert_eq!(unescape("a=2Cb=3Dc").unwrap(), "a,b=c");
        for bad in ["a=", "a=2", "a=2c", "a=41", "="] {
            assert!(unescape(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn client_first_keeps_its_gs2_header_and_bare_part() {
        let first = ClientFirst::parse("n,,n=user,r=abc").unwrap();
        assert_eq!((first.gs2_header, first.bare), ("n,,", "n=user,r=abc"));
        assert_eq!(
            (first.username.as_str(), first.nonce, first.authzid),
            ("user", "abc", false)
        );
        let first = ClientFirst::parse("y,a=bob,n=a=2Cb,r=x,z=ext").unwrap();
        assert_eq!((first.gs2_header, first.authzid), ("y,a=bob,", true));
        assert_eq!(first.username, "a,b");
        for bad in [
            "",
            "n,,",
            "n,n=user,r=abc",
            "p=tls-unique,,n=user,r=abc",
            "x,,n=user,r=abc",
            "n,b=x,n=user,r=abc",
            "n,,m=ext,n=user,r=abc",
            "n,,n=,r=abc",
            "n,,n=user",
            "n,,n=user,r=",
            "n,,n=user,r=a b",
            "n,,r=abc,n=user",
            "n,,n=user,r=abc,",
            "n,,n=user,r=abc,zz",
        ] {
            assert!(ClientFirst::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn client_final_splits_off_the_proof() {
        let proof = B64.encode([7u8; 32]);
        let text = format!("c=biws,r=abc,x=1,p={proof}");
        let last = ClientFinal::parse(&text).unwrap();
        assert_eq!(last.without_proof, "c=biws,r=abc,x=1");
        assert_eq!(
            (last.channel_binding.as_slice(), last.nonce),
            (&b"n,,"[..], "abc")
        );
        for bad in [
            String::new(),
            "c=biws,r=abc".into(),
            format!("c=biws,p={proof}"),
            format!("r=abc,c=biws,p={proof}"),
            format!("c=bi!s,r=abc,p={proof}"),
            format!("c=biws,r=abc,p={}", B64.encode([7u8; 31])),
            "c=biws,r=abc,p=AAAA".into(),
            format!("c=biws,r=abc,p={proof},x=1"),
        ] {
            assert!(ClientFinal::parse(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn server_messages_parse_and_errors_are_errors() {
        let first = ServerFirst::parse("r=abcdef,s=QSXCR+Q6sek8bf92,i=4096").unwrap();
        assert_eq!((first.nonce, first.iterations), ("abcdef", 4096));
        for bad in [
            "r=a,s=QQ==,i=0",
            "r=a,s=QQ==",
            "r=a,i=1,s=QQ==",
            "m=x,r=a,s=QQ==,i=1",
        ] {
            assert!(ServerFirst::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(server_final("v=AAAA").unwrap(), vec![0, 0, 0]);
        assert_eq!(
            server_final("e=invalid-proof").unwrap_err(),
            "server error: invalid-proof"
        );
        assert!(text(b"n,,n=\xc3\xa9,r=a").is_err() && text(b"a\nb").is_err());
    }
}
