//! Console sessions: a signed, expiring token in an HttpOnly cookie, which signing out
//! revokes. The token names the key's holder, binds a digest of the key (a rotated or
//! removed key ends its sessions), says when it expires and carries a random id; an
//! HMAC-SHA256 under the server's secret signs it all. The key itself never reaches the
//! browser, and a stolen cookie is worth nothing past its lifetime or its sign-out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{KeyInit, Mac};

use crate::auth::{Auth, Caller};

type Hmac = hmac::Hmac<sha2_11::Sha256>;

/// Issues, checks and revokes session tokens.
pub struct Sessions {
    secret: Vec<u8>,
    lifetime: Duration,
    /// Signed-out tokens' ids, until they would have expired anyway.
    revoked: Mutex<HashMap<String, u64>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Bytes from the operating system's random source.
fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    getrandom::getrandom(&mut out).expect("the operating system's random source");
    out
}

impl Sessions {
    /// Sessions signed with `secret` (random, for this process only, when `None`), valid
    /// for `lifetime`.
    pub fn new(secret: Option<Vec<u8>>, lifetime: Duration) -> Sessions {
        Sessions {
            secret: secret.unwrap_or_else(|| random::<32>().to_vec()),
            lifetime,
            revoked: Mutex::default(),
        }
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    fn mac(&self, payload: &str) -> Hmac {
        let mut mac = Hmac::new_from_slice(&self.secret).expect("HMAC takes a key of any length");
        mac.update(payload.as_bytes());
        mac
    }

    /// A token for `holder`, whose key's sha256 is `key_digest`, from `now` on.
    pub fn issue(&self, holder: &str, key_digest: &[u8; 32], now: u64) -> String {
        let id = hex::encode(random::<16>());
        let expires = now + self.lifetime.as_secs();
        let payload = format!(
            "v1.{}.{}.{expires}.{id}",
            hex::encode(holder.as_bytes()),
            binding(key_digest)
        );
        let tag = hex::encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// The caller a token stands for at `now`: signed with this secret, unexpired, not
    /// signed out, and its holder's key unchanged.
    pub fn holder(&self, token: &str, auth: &Auth, now: u64) -> Option<Caller> {
        let t = self.verified(token, now)?;
        if self.is_revoked(t.id) {
            return None;
        }
        let (caller, digest) = auth.named_key(&t.holder)?;
        (binding(&digest) == t.binding).then_some(caller)
    }

    /// Sign a token out: refused from now on. Tokens that could not be valid are ignored.
    pub fn revoke(&self, token: &str, now: u64) {
        let Some(t) = self.verified(token, now) else {
            return;
        };
        let mut revoked = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
        revoked.retain(|_, &mut expires| expires > now);
        revoked.insert(t.id.to_owned(), t.expires);
    }

    /// The token, if this secret signed it and it has not expired at `now`.
    fn verified<'a>(&self, token: &'a str, now: u64) -> Option<Token<'a>> {
        let t = Token::parse(token)?;
        self.mac(t.payload).verify_slice(&t.tag).ok()?;
        (t.expires > now).then_some(t)
    }

    fn is_revoked(&self, id: &str) -> bool {
        let revoked = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
        revoked.contains_key(id)
    }
}

/// What a token binds of its key: the first 8 bytes of sha256(sha256(key)).
fn binding(key_digest: &[u8; 32]) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(key_digest)[..8])
}

struct Token<'a> {
    payload: &'a str,
    holder: String,
    binding: &'a str,
    expires: u64,
    id: &'a str,
    tag: Vec<u8>,
}

impl<'a> Token<'a> {
    fn parse(token: &'a str) -> Option<Token<'a>> {
        let (payload, tag) = token.rsplit_once('.')?;
        let mut parts = payload.split('.');
        if parts.next()? != "v1" {
            return None;
        }
        let holder = String::from_utf8(hex::decode(parts.next()?).ok()?).ok()?;
        let binding = parts.next()?;
        let expires = parts.next()?.parse().ok()?;
        let id = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        Some(Token {
            payload,
            holder,
            binding,
            expires,
            id,
            tag: hex::decode(tag).ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef";

    fn keys(secret: &str) -> Auth {
        Auth::keys(&format!("val+approver:{secret}")).unwrap()
    }

    /// A token stands for its holder until it expires, is signed out, or its key changes;
    /// one signed with another secret, or altered, stands for no one.
    #[test]
    fn tokens_expire_are_revoked_and_bound_to_secret_and_key() {
        let auth = keys(KEY);
        let sessions = Sessions::new(Some(b"server secret".to_vec()), Duration::from_secs(3600));
        let (_, digest) = auth.holder_of(KEY).unwrap();
        let t0 = 1_800_000_000;
        let token = sessions.issue("val", &digest, t0);
        let who =
            |s: &Sessions, token: &str, auth: &Auth, at| s.holder(token, auth, at).map(|c| c.name);
        assert_eq!(who(&sessions, &token, &auth, t0 + 10), Some("val".into()));
        assert_eq!(who(&sessions, &token, &auth, t0 + 3599), Some("val".into()));
        // Past its lifetime.
        assert_eq!(who(&sessions, &token, &auth, t0 + 3600), None);
        // Another server's secret.
        let other = Sessions::new(Some(b"another secret".to_vec()), Duration::from_secs(3600));
        assert_eq!(who(&other, &token, &auth, t0 + 10), None);
        // Altered: a later expiry written in.
        let forged = token.replace(&format!(".{}.", t0 + 3600), &format!(".{}.", t0 + 99_999));
        assert_ne!(forged, token);
        assert_eq!(who(&sessions, &forged, &auth, t0 + 10), None);
        // The key rotated under the same name.
        assert_eq!(
            who(&sessions, &token, &keys("fedcba9876543210"), t0 + 10),
            None
        );
        // Signed out.
        sessions.revoke(&token, t0 + 20);
        assert_eq!(who(&sessions, &token, &auth, t0 + 30), None);
        let again = sessions.issue("val", &digest, t0 + 40);
        assert_eq!(who(&sessions, &again, &auth, t0 + 50), Some("val".into()));
        assert_eq!(who(&sessions, "not a token", &auth, t0), None);
    }
}
