//! The server against RFC 7677's test vector and against [`super::client`]; a proptest pass
//! over random and mutated messages.

use std::sync::OnceLock;

use proptest::prelude::*;

use super::client::{ScramClient, ScramClientError};
use super::*;
use crate::codec::ConnectReturnCode;

const RFC_SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

/// The method with two users; their keys are derived once (PBKDF2 is slow on purpose).
fn scram() -> ScramSha256 {
    static USERS: OnceLock<Vec<(String, ScramCredentials)>> = OnceLock::new();
    let users = USERS.get_or_init(|| {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        vec![
            (
                "user".to_string(),
                ScramCredentials::derive(b"pencil", &salt, 4096),
            ),
            ("a,b=c".into(), ScramCredentials::derive(b"odd", b"salt", 4096)),
        ]
    });
    ScramSha256::new(users.clone())
}

fn continued(step: AuthStep) -> Vec<u8> {
    match step {
        AuthStep::Continue(data) => data,
        other => panic!("expected Continue, got {other:?}"),
    }
}

/// Runs a whole exchange for `client`; Ok(server-final) or the server's failure.
fn exchange(method: &ScramSha256, client: &mut ScramClient) -> Result<Vec<u8>, AuthFailure> {
    let (mut exchange, step) = method.begin(Some(&client.client_first()))?;
    let client_final = client.client_final(&continued(step)).unwrap();
    match exchange.step(&client_final)? {
        AuthStep::Success { data, .. } => Ok(data.unwrap()),
        other => panic!("expected Success, got {other:?}"),
    }
}

/// RFC 7677 section 3: the exchange for user "user", password "pencil", byte for byte.
#[test]
fn rfc_7677_test_vector() {
    let method = scram().with_nonce_source(|| RFC_SERVER_NONCE.to_string());
    let (mut exchange, step) = method.begin(Some(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")).unwrap();
    assert_eq!(
        String::from_utf8(continued(step)).unwrap(),
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    );
    let step = exchange
        .step(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
        .unwrap();
    assert_eq!(
        step,
        AuthStep::Success {
            username: "user".into(),
            data: Some(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec()),
        }
    );
}

/// The test client reproduces the RFC's client messages too.
#[test]
fn the_client_reproduces_rfc_7677() {
    let mut client = ScramClient::with_nonce("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
    assert_eq!(client.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    let last = client
        .client_final(
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        )
        .unwrap();
    assert_eq!(
        String::from_utf8(last).unwrap(),
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    );
    client
        .verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        .unwrap();
    assert_eq!(
        client.verify_server_final(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        Err(ScramClientError::ServerSignature)
    );
}

#[test]
fn right_password_succeeds_and_the_server_proves_itself() {
    let method = scram();
    let mut client = ScramClient::new("user", "pencil");
    let server_final = exchange(&method, &mut client).unwrap();
    client.verify_server_final(&server_final).unwrap();
    // A user name with both escapes.
    let mut client = ScramClient::new("a,b=c", "odd");
    assert!(client.client_first().starts_with(b"n,,n=a=2Cb=3Dc,r="));
    let server_final = exchange(&method, &mut client).unwrap();
    client.verify_server_final(&server_final).unwrap();
}

/// A wrong password and an unknown user fail alike at client-final with 0x87; the unknown user
/// gets a stable made-up salt, so server-first does not tell them apart.
#[test]
fn wrong_password_and_unknown_user_are_not_authorized_0x87() {
    let method = scram();
    for (user, password) in [("user", "pencil!"), ("nobody", "pencil")] {
        let err = exchange(&method, &mut ScramClient::new(user, password)).unwrap_err();
        assert!(matches!(err, AuthFailure::NotAuthorized(_)), "{err:?}");
        assert_eq!(err.connack_code(), ConnectReturnCode::NotAuthorized);
    }
    let salt_of = |user: &str| {
        let (_, step) = method
            .begin(Some(format!("n,,n={user},r=abc").as_bytes()))
            .unwrap();
        let first = continued(step);
        let text = String::from_utf8(first).unwrap();
        text.split(',').nth(1).unwrap().to_string()
    };
    assert_eq!(salt_of("nobody"), salt_of("nobody"));
    assert_ne!(salt_of("nobody"), salt_of("someone"));
}

/// A client-final replayed into another exchange, or with its nonce or proof changed, fails.
#[test]
fn replayed_or_modified_client_final_is_not_authorized() {
    let method = scram();
    let mut client = ScramClient::with_nonce("user", "pencil", "fixed");
    let (_, step) = method.begin(Some(&client.client_first())).unwrap();
    let recorded = client.client_final(&continued(step)).unwrap();
    // Replay: a new exchange has a new server nonce.
    let (mut second, _) = method.begin(Some(&client.client_first())).unwrap();
    assert!(matches!(
        second.step(&recorded),
        Err(AuthFailure::NotAuthorized(_))
    ));

    // Changes: every other exchange gets the same server nonce, so only the change differs.
    let fixed = scram().with_nonce_source(|| "same".into());
    let (mut exchange, step) = fixed.begin(Some(&client.client_first())).unwrap();
    let good = String::from_utf8(client.client_final(&continued(step)).unwrap()).unwrap();
    let nonce = good.split(',').nth(1).unwrap();
    let mut changed = vec![
        good.replace(nonce, &format!("{nonce}x")),
        good.replace(nonce, "r=fixed"),
        good.replace("c=biws", "c=eSws"),
    ];
    let proof_at = good.rfind("p=").unwrap() + 2;
    let mut flipped = good.clone().into_bytes();
    flipped[proof_at] = if flipped[proof_at] == b'A' { b'B' } else { b'A' };
    changed.push(String::from_utf8(flipped).unwrap());
    for bad in changed {
        let (mut fresh, _) = fixed.begin(Some(&client.client_first())).unwrap();
        assert!(
            matches!(fresh.step(bad.as_bytes()), Err(AuthFailure::NotAuthorized(_))),
            "{bad}"
        );
    }
    // The original still works once, then the exchange is over (0x82).
    assert!(matches!(
        exchange.step(good.as_bytes()),
        Ok(AuthStep::Success { .. })
    ));
    assert!(matches!(
        exchange.step(good.as_bytes()),
        Err(AuthFailure::Protocol(_))
    ));
}

#[test]
fn malformed_messages_are_malformed_0x81_and_unsupported_options_refused() {
    let method = scram();
    for bad in [
        &b""[..],
        b"n,,n=user",
        b"p=tls-server-end-point,,n=user,r=abc",
        b"n,,m=x,n=user,r=abc",
        b"n,,n=us=er,r=abc",
        "n,,n=usér,r=abc".as_bytes(),
        b"n,,n=user,r=abc\0",
    ] {
        let Err(err) = method.begin(Some(bad)) else {
            panic!("{bad:?} began")
        };
        assert!(matches!(err, AuthFailure::Malformed(_)), "{bad:?}: {err:?}");
        assert_eq!(err.connack_code(), ConnectReturnCode::MalformedPacket);
    }
    let Err(err) = method.begin(None) else {
        panic!("began without data")
    };
    assert!(matches!(err, AuthFailure::Protocol(_)), "{err:?}");
    let Err(err) = method.begin(Some(b"n,a=admin,n=user,r=abc")) else {
        panic!("began with an authzid")
    };
    assert!(matches!(err, AuthFailure::NotAuthorized(_)), "{err:?}");
    // `y,,` (client could bind, thinks the server cannot) is accepted; c= must then be `y,,`.
    let (mut exchange, step) = method.begin(Some(b"y,,n=user,r=abc")).unwrap();
    let nonce = String::from_utf8(continued(step)).unwrap();
    let nonce = nonce.split(',').next().unwrap();
    let err = exchange
        .step(format!("c=biws,{nonce},p={}", B64.encode([0u8; 32])).as_bytes())
        .unwrap_err();
    assert!(matches!(err, AuthFailure::NotAuthorized(_)), "{err:?}");
}

/// A valid client-first and client-final for server nonce "server", made once.
fn valid_pair() -> (Vec<u8>, Vec<u8>) {
    static PAIR: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    PAIR.get_or_init(|| {
        let mut client = ScramClient::with_nonce("user", "pencil", "fuzz");
        let first = client.client_first();
        let (_, step) = scram()
            .with_nonce_source(|| "server".into())
            .begin(Some(&first))
            .unwrap();
        (first, client.client_final(&continued(step)).unwrap())
    })
    .clone()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Random bytes never panic: every answer is an error (or, for client-first that happens
    /// to parse, a server-first).
    #[test]
    fn random_bytes_never_panic(first in proptest::collection::vec(any::<u8>(), 0..64),
                                last in proptest::collection::vec(any::<u8>(), 0..96)) {
        let method = scram();
        if let Ok((mut exchange, _)) = method.begin(Some(&first)) {
            let result = exchange.step(&last);
            prop_assert!(!matches!(result, Ok(AuthStep::Success { .. })), "succeeded");
        }
    }

    /// A valid exchange with one byte of client-first or client-final changed, cut or
    /// inserted never panics and never succeeds.
    #[test]
    fn mutated_messages_never_panic_or_succeed(which in 0..2usize, at in any::<prop::sample::Index>(),
                                               byte in any::<u8>(), kind in 0..3u8) {
        let (mut first, mut last) = valid_pair();
        let target = if which == 0 { &mut first } else { &mut last };
        let i = at.index(target.len());
        let original = target.clone();
        match kind {
            0 => target[i] = byte,
            1 => target.truncate(i),
            _ => target.insert(i, byte),
        }
        prop_assume!(*target != original);
        let method = scram().with_nonce_source(|| "server".into());
        if let Ok((mut exchange, _)) = method.begin(Some(&first)) {
            let result = exchange.step(&last);
            prop_assert!(!matches!(result, Ok(AuthStep::Success { .. })), "succeeded: {:?}", String::from_utf8_lossy(&last));
        }
    }
}
