//! Accounts hosted by this node: sign-up, login, sessions, and the vault of unlocked keys.
//!
//! - Passwords are verified against an argon2id PHC string; the account's master key is wrapped
//!   by a separate, stronger argon2id derivation. Both run on blocking threads.
//! - A session token is 32 random bytes, given to the client once. The store keeps only a derived
//!   lookup id and the master key sealed under a key derived from the token, so a remembered
//!   login survives a node restart while a stolen disk alone unlocks nothing.
//! - [`keys`]: the unlocked key set and its sealed form; [`limiter`]: failed-login limits;
//!   `session_cache`: sessions already found in the store, so a request reads no row.

pub mod keys;
pub mod limiter;
mod session_cache;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use chatly_crypto::wrap::{self, MasterKey, WrapParams, WrappedKey};
use chatly_protocol::AccountId;

use crate::config::Limits;
use crate::store::accounts::{self as rows, LocalAccountRow, SessionRow};
use crate::store::{Store, StoreError, now_ms};
pub use keys::UnlockedKeys;
use limiter::FailureLimiter;

/// Derive-key context of a session's lookup id.
const SESSION_ID_LABEL: &str = "chatly/v1/session-id";
/// Derive-key context of the key that wraps the master key for one session.
const SESSION_WRAP_LABEL: &str = "chatly/v1/session-wrap";
/// AEAD label of the master key sealed for a session.
const MASTER_WRAP_LABEL: &str = "chatly/v1/master-wrap";
/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted (argon2 hashes anything, but a megabyte password is an attack).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Errors of the accounts boundary.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Sign-up with a username this node already hosts.
    #[error("that username is taken")]
    UsernameTaken,
    /// The username breaks the rules.
    #[error("a username is 3 to 32 characters of a-z, 0-9, '_', '.' and '-'")]
    BadUsername,
    /// The password is too short or too long.
    #[error("the password needs at least 8 characters (and at most 1024 bytes)")]
    BadPassword,
    /// The display name is too long.
    #[error("the display name is at most 64 characters")]
    BadDisplayName,
    /// Wrong username or password.
    #[error("wrong username or password")]
    BadCredentials,
    /// Too many failed logins.
    #[error("too many failed logins; try again in {} s", .0.as_secs())]
    RateLimited(Duration),
    /// Missing, unknown or expired session.
    #[error("not logged in")]
    Unauthorized,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Key material could not be opened (damaged data).
    #[error("the account's keys could not be opened: {0}")]
    Keys(String),
}

/// An authenticated request's session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The account.
    pub user: AccountId,
    /// The session's lookup id (for logout).
    pub id: [u8; 32],
    /// The account's unlocked keys.
    pub keys: Arc<UnlockedKeys>,
}

/// A fresh login: the token to hand to the client once.
#[derive(Debug)]
pub struct Login {
    /// The bearer token (hex); also the cookie value.
    pub token: String,
    /// The session it opens.
    pub session: Session,
    /// Whether the cookie should outlive the browser session.
    pub persistent: bool,
    /// How long the session lasts.
    pub ttl: Duration,
}

/// The unlocked accounts of this node, shared by the accounts and rooms services.
#[derive(Debug, Default)]
pub struct Vault {
    keys: Mutex<HashMap<AccountId, Arc<UnlockedKeys>>>,
    /// Woken when an account is unlocked: what arrived while it was locked can be opened now.
    pub unlocks: tokio::sync::Notify,
    /// Woken when an account is unlocked: time for a sync round with every peer.
    pub logins: tokio::sync::Notify,
}

impl Vault {
    /// The keys of an unlocked account.
    pub fn get(&self, user: &AccountId) -> Option<Arc<UnlockedKeys>> {
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(user)
            .cloned()
    }

    /// Every unlocked account.
    pub fn all(&self) -> Vec<Arc<UnlockedKeys>> {
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// A vault holding `keys` unlocked, for tests of what unlocked accounts do with arrivals.
    #[cfg(test)]
    pub(crate) fn holding(keys: Vec<UnlockedKeys>) -> Self {
        let vault = Vault::default();
        for keys in keys {
            vault.insert(keys);
        }
        vault
    }

    /// Puts keys in the vault, or returns the copy already there; `true` when newly unlocked.
    fn insert(&self, keys: UnlockedKeys) -> (Arc<UnlockedKeys>, bool) {
        let mut vault = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let id = keys.account_id();
        let fresh = !vault.contains_key(&id);
        (
            vault.entry(id).or_insert_with(|| Arc::new(keys)).clone(),
            fresh,
        )
    }

    fn remove(&self, user: &AccountId) {
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(user);
    }
}

/// The accounts service.
pub struct Accounts {
    store: Store,
    vault: Arc<Vault>,
    sessions: session_cache::SessionCache,
    limiter: FailureLimiter,
    limits: Limits,
    wrap_params: WrapParams,
}

impl Accounts {
    /// The service over a store, sharing `vault` with the rooms service.
    pub fn new(store: Store, limits: Limits, vault: Arc<Vault>) -> Self {
        Self {
            store,
            vault,
            sessions: session_cache::SessionCache::default(),
            limiter: FailureLimiter::new(limits.failed_logins_per_minute),
            limits,
            wrap_params: WrapParams::DEFAULT,
        }
    }

    /// Creates an account; returns its unlocked keys (the caller publishes its account record).
    pub async fn sign_up(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Arc<UnlockedKeys>, AccountError> {
        chatly_protocol::validate_username(username).map_err(|_| AccountError::BadUsername)?;
        check_password(password)?;
        let name = username.to_string();
        if self
            .store
            .read(move |c| rows::account_by_username(c, &name))
            .await?
            .is_some()
        {
            return Err(AccountError::UsernameTaken);
        }
        let (password, params) = (
            zeroize::Zeroizing::new(password.to_string()),
            self.wrap_params,
        );
        let (keys, row) = blocking(move || {
            let keys = UnlockedKeys::generate(now_ms());
            let phc = chatly_crypto::password::hash_password(&password)
                .map_err(|e| AccountError::Keys(e.to_string()))?;
            let wrapped = wrap::wrap_master(&password, &keys.master, params)
                .map_err(|e| AccountError::Keys(e.to_string()))?;
            let row = LocalAccountRow {
                user_id: keys.account_id().0,
                username: String::new(),
                password_phc: phc,
                wrapped_master: wrapped.to_bytes(),
                sealed_keys: keys.seal(),
            };
            Ok((keys, row))
        })
        .await?;
        let row = LocalAccountRow {
            username: username.to_string(),
            ..row
        };
        let inserted = self
            .store
            .write(move |txn| rows::insert_account(txn, &row, now_ms()))
            .await?;
        if !inserted {
            return Err(AccountError::UsernameTaken);
        }
        Ok(Arc::new(keys))
    }

    /// Verifies a password and opens a session.
    pub async fn log_in(
        &self,
        username: &str,
        password: &str,
        remember: bool,
        client: &str,
    ) -> Result<Login, AccountError> {
        let limit_keys = [format!("account:{username}"), format!("client:{client}")];
        let limit_keys: Vec<&str> = limit_keys.iter().map(String::as_str).collect();
        self.limiter
            .check(&limit_keys, Instant::now())
            .map_err(AccountError::RateLimited)?;
        let name = username.to_string();
        let row = self
            .store
            .read(move |c| rows::account_by_username(c, &name))
            .await?;
        let password = zeroize::Zeroizing::new(password.to_string());
        let verified = blocking(move || {
            let Some(row) = row else {
                // Spend the same time as a real check so timing does not reveal which names exist.
                chatly_crypto::password::verify_password(&password, dummy_phc());
                return Ok(None);
            };
            if !chatly_crypto::password::verify_password(&password, &row.password_phc) {
                return Ok(None);
            }
            let wrapped = WrappedKey::from_bytes(&row.wrapped_master)
                .map_err(|e| AccountError::Keys(e.to_string()))?;
            let master = wrap::unwrap_master(&password, &wrapped)
                .map_err(|e| AccountError::Keys(e.to_string()))?;
            let keys = UnlockedKeys::open(master, &row.sealed_keys)
                .map_err(|e| AccountError::Keys(e.to_string()))?;
            Ok(Some(keys))
        })
        .await?;
        let Some(keys) = verified else {
            self.limiter.record_failure(&limit_keys, Instant::now());
            return Err(AccountError::BadCredentials);
        };
        let keys = self.unlock(keys).await?;
        self.open_session(keys, remember).await
    }

    async fn open_session(
        &self,
        keys: Arc<UnlockedKeys>,
        remember: bool,
    ) -> Result<Login, AccountError> {
        let token: [u8; 32] = chatly_crypto::random_bytes();
        let id = chatly_crypto::derive_key(SESSION_ID_LABEL, &token);
        let session_key = chatly_crypto::derive_key(SESSION_WRAP_LABEL, &token);
        let ttl = if remember {
            self.limits.remembered_session_ttl
        } else {
            self.limits.session_ttl
        };
        let row = SessionRow {
            id,
            user_id: keys.account_id().0,
            wrapped_master: wrap::seal(&session_key, MASTER_WRAP_LABEL, keys.master.expose()),
            persistent: remember,
            expires_at: now_ms() + ttl.as_millis() as u64,
        };
        self.store
            .write(move |txn| {
                // Logins are rare: a good moment to forget sessions that expired.
                rows::delete_expired_sessions(txn, now_ms())?;
                rows::insert_session(txn, &row, now_ms())
            })
            .await?;
        Ok(Login {
            token: hex::encode(token),
            session: Session {
                user: keys.account_id(),
                id,
                keys,
            },
            persistent: remember,
            ttl,
        })
    }

    /// The session a token opens; unlocks the account's keys with the token after a restart.
    pub async fn authenticate(&self, token: &str) -> Result<Session, AccountError> {
        let token: [u8; 32] = hex::decode(token)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(AccountError::Unauthorized)?;
        let id = chatly_crypto::derive_key(SESSION_ID_LABEL, &token);
        if let Some(user) = self.sessions.get(&id, now_ms())
            && let Some(keys) = self.unlocked(&user)
        {
            return Ok(Session { user, id, keys });
        }
        let epoch = self.sessions.epoch();
        let row = self
            .store
            .read(move |c| rows::session(c, &id, now_ms()))
            .await?
            .ok_or(AccountError::Unauthorized)?;
        let user = AccountId(row.user_id);
        self.sessions
            .insert(epoch, id, user, row.expires_at, now_ms());
        if let Some(keys) = self.unlocked(&user) {
            return Ok(Session { user, id, keys });
        }
        let account = self
            .store
            .read(move |c| rows::account(c, &row.user_id))
            .await?
            .ok_or(AccountError::Unauthorized)?;
        let session_key = chatly_crypto::derive_key(SESSION_WRAP_LABEL, &token);
        let keys = blocking(move || {
            let master = wrap::open(&session_key, MASTER_WRAP_LABEL, &row.wrapped_master)
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
                .map(|bytes| MasterKey::from_bytes(&bytes))
                .ok_or(AccountError::Unauthorized)?;
            UnlockedKeys::open(master, &account.sealed_keys)
                .map_err(|e| AccountError::Keys(e.to_string()))
        })
        .await?;
        Ok(Session {
            user,
            id,
            keys: self.unlock(keys).await?,
        })
    }

    /// Ends a session; the account's keys leave memory when its last session ends.
    pub async fn log_out(&self, session: &Session) -> Result<(), AccountError> {
        let id = session.id;
        let left = self
            .store
            .write(move |txn| rows::delete_session(txn, &id))
            .await;
        // Even when the answer is an error: the delete may have reached the disk, and
        // forgetting costs no more than one store read on the next request.
        self.sessions.forget(&id);
        if let Some((user, 0)) = left? {
            self.vault.remove(&AccountId(user));
        }
        Ok(())
    }

    /// The keys of an unlocked account.
    pub fn unlocked(&self, user: &AccountId) -> Option<Arc<UnlockedKeys>> {
        self.vault.get(user)
    }

    /// Puts keys in the vault (rotating an old prekey first); a newly unlocked account wakes the
    /// room opener, which also re-publishes the account record when the prekey changed.
    async fn unlock(&self, mut keys: UnlockedKeys) -> Result<Arc<UnlockedKeys>, AccountError> {
        if let Some(existing) = self.vault.get(&keys.account_id()) {
            return Ok(existing);
        }
        if keys.rotate_prekey(now_ms(), self.limits.prekey_max_age.as_millis() as u64) {
            let (user, sealed) = (keys.account_id().0, keys.seal());
            self.store
                .write(move |txn| rows::update_sealed_keys(txn, &user, &sealed))
                .await?;
            tracing::info!(account = %keys.account_id(), "signed prekey rotated");
        }
        let (keys, fresh) = self.vault.insert(keys);
        if fresh {
            self.vault.unlocks.notify_one();
            self.vault.logins.notify_one();
        }
        Ok(keys)
    }
}

fn check_password(password: &str) -> Result<(), AccountError> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(AccountError::BadPassword);
    }
    Ok(())
}

/// A PHC string for a password nobody has, verified when the username does not exist.
fn dummy_phc() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        chatly_crypto::password::hash_password("chatly-no-such-account").unwrap_or_default()
    })
}

async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, AccountError> + Send + 'static,
) -> Result<R, AccountError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AccountError::Keys(format!("key task failed: {e}")))?
}
