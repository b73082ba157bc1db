//! Live sessions, API tokens and their users, held in memory so authenticating a request
//! needs no database round trip, and kept current through PostgreSQL notifications
//! (`javari_auth`, sent by triggers on the four tables): a sign-out, a revoked token, a
//! disabled user or a changed role takes effect on every replica as soon as its listener
//! hears of it, and the replica that made the change applies it to itself first.
//!
//! Until the listener has loaded everything (at start, and again after it reconnects — a
//! notification may have been missed meanwhile), every lookup asks the database. A token
//! the cache does not know is looked up too (it may have been created a moment ago on
//! another replica); such a lookup is cached only if no notification arrived meanwhile.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use uuid::Uuid;

use super::{Role, User, sha256_hex};

pub const CHANNEL: &str = "javari_auth";

#[derive(Clone, Debug)]
struct SessionEntry {
    id: Uuid,
    user_id: Uuid,
    expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
struct TokenEntry {
    id: Uuid,
    user_id: Uuid,
    role: Role,
    expires_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug)]
struct UserEntry {
    email: String,
    role: Role,
    disabled: bool,
    mfa: bool,
}

#[derive(Default)]
struct Maps {
    sessions: HashMap<String, SessionEntry>,
    session_ids: HashMap<Uuid, String>,
    tokens: HashMap<String, TokenEntry>,
    token_ids: HashMap<Uuid, String>,
    users: HashMap<Uuid, UserEntry>,
}

impl Maps {
    fn put_session(&mut self, hash: String, entry: SessionEntry) {
        self.session_ids.insert(entry.id, hash.clone());
        self.sessions.insert(hash, entry);
    }

    fn drop_session(&mut self, id: Uuid) {
        if let Some(hash) = self.session_ids.remove(&id) {
            self.sessions.remove(&hash);
        }
    }

    fn put_token(&mut self, hash: String, entry: TokenEntry) {
        self.token_ids.insert(entry.id, hash.clone());
        self.tokens.insert(hash, entry);
    }

    fn drop_token(&mut self, id: Uuid) {
        if let Some(hash) = self.token_ids.remove(&id) {
            self.tokens.remove(&hash);
        }
    }
}

/// Who a session or token acts as.
#[derive(Clone, Debug)]
pub struct Identity {
    pub user: User,
    pub session_id: Option<Uuid>,
    pub token_id: Option<Uuid>,
    /// The user has a confirmed second factor.
    pub mfa_enrolled: bool,
}

pub struct AuthCache {
    pool: PgPool,
    maps: RwLock<Maps>,
    ready: AtomicBool,
    /// Bumped by every notification and reload; a database answer is cached only if it
    /// did not move while the query ran.
    epoch: AtomicU64,
    db_lookups: AtomicU64,
    reloads: AtomicU64,
    last_used: Mutex<HashMap<Uuid, DateTime<Utc>>>,
}

// Sessions, tokens and second factors are other users' rows: read through the owner's
// narrow functions (hashes and expiry only), never the tables.
const USER_COLUMNS: &str = "u.email, u.role, u.disabled, javari_auth_mfa_enabled(u.id) AS mfa";

type UserRow = (String, String, bool, bool);
type TokenRow = (Uuid, String, Uuid, String, Option<DateTime<Utc>>);
type SessionUserRow = (Uuid, Uuid, DateTime<Utc>, String, String, bool, bool);

fn user_entry((email, role, disabled, mfa): UserRow) -> UserEntry {
    UserEntry {
        email,
        role: Role::from_db(&role),
        disabled,
        mfa,
    }
}

impl AuthCache {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            maps: RwLock::new(Maps::default()),
            ready: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            db_lookups: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
            last_used: Mutex::new(HashMap::new()),
        }
    }

    /// Starts the listener (and the last-use writer) on the current tokio runtime, if any.
    pub fn spawn(self: &Arc<Self>, flush_every: Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = Arc::downgrade(self);
        runtime.spawn(async move {
            loop {
                let Some(cache) = weak.upgrade() else { return };
                // Ends with an error when the connection drops or the pool closes.
                let result = cache.listen().await;
                cache.ready.store(false, Ordering::SeqCst);
                if cache.pool.is_closed() {
                    return;
                }
                if let Err(e) = result {
                    tracing::warn!(error = %e, "auth notifications interrupted; reloading sessions and tokens");
                }
                drop(cache);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        let weak = Arc::downgrade(self);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(flush_every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(cache) = weak.upgrade() else { return };
                if let Err(e) = cache.flush_last_used().await {
                    tracing::warn!(error = %e, "cannot record API tokens' last use");
                }
            }
        });
    }

    /// Listens, loads everything, then applies notifications until the connection fails.
    async fn listen(&self) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        self.reload().await?;
        self.ready.store(true, Ordering::SeqCst);
        loop {
            match listener.try_recv().await? {
                Some(notification) => {
                    self.epoch.fetch_add(1, Ordering::SeqCst);
                    if let Err(e) = self.apply(notification.payload()).await {
                        // The change could not be read: do not trust the cache until reloaded.
                        self.ready.store(false, Ordering::SeqCst);
                        return Err(e);
                    }
                }
                None => return Err(sqlx::Error::Protocol("listener connection lost".into())),
            }
        }
    }

    /// Reads every live session and token and every user.
    pub async fn reload(&self) -> Result<(), sqlx::Error> {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let sessions: Vec<(Uuid, String, Uuid, DateTime<Utc>)> = sqlx::query_as(
            "SELECT id, token_hash, user_id, expires_at FROM javari_auth_sessions(NULL, NULL)",
        )
        .fetch_all(&self.pool)
        .await?;
        let tokens: Vec<TokenRow> = sqlx::query_as(
            "SELECT id, key_hash, user_id, role, expires_at FROM javari_auth_api_keys(NULL, NULL)",
        )
        .fetch_all(&self.pool)
        .await?;
        let users: Vec<(Uuid, String, String, bool, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(
            format!("SELECT u.id, {USER_COLUMNS} FROM javari_users u"),
        ))
        .fetch_all(&self.pool)
        .await?;
        let mut maps = Maps::default();
        for (id, hash, user_id, expires_at) in sessions {
            maps.put_session(
                hash,
                SessionEntry {
                    id,
                    user_id,
                    expires_at,
                },
            );
        }
        for (id, hash, user_id, role, expires_at) in tokens {
            let role = Role::from_db(&role);
            maps.put_token(
                hash,
                TokenEntry {
                    id,
                    user_id,
                    role,
                    expires_at,
                },
            );
        }
        for (id, email, role, disabled, mfa) in users {
            maps.users
                .insert(id, user_entry((email, role, disabled, mfa)));
        }
        *self.maps.write().unwrap_or_else(|e| e.into_inner()) = maps;
        self.reloads.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Applies one `table:op:id` notification by re-reading that row.
    async fn apply(&self, payload: &str) -> Result<(), sqlx::Error> {
        let mut parts = payload.splitn(3, ':');
        let (Some(table), Some(op), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            return Ok(());
        };
        let Ok(id) = id.parse::<Uuid>() else {
            return Ok(());
        };
        let deleted = op == "DELETE";
        match table {
            "javari_sessions" => {
                let row: Option<(String, Uuid, DateTime<Utc>)> = if deleted {
                    None
                } else {
                    sqlx::query_as(
                        "SELECT token_hash, user_id, expires_at FROM javari_auth_sessions($1, NULL)",
                    )
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                };
                if let Some((_, user_id, _)) = &row {
                    self.ensure_user(*user_id).await?;
                }
                let mut maps = self.write();
                maps.drop_session(id);
                if let Some((hash, user_id, expires_at)) = row {
                    maps.put_session(
                        hash,
                        SessionEntry {
                            id,
                            user_id,
                            expires_at,
                        },
                    );
                }
            }
            "javari_api_keys" => {
                let row: Option<(String, Uuid, String, Option<DateTime<Utc>>)> = if deleted {
                    None
                } else {
                    sqlx::query_as(
                        "SELECT key_hash, user_id, role, expires_at FROM javari_auth_api_keys($1, NULL)",
                    )
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                };
                if let Some((_, user_id, _, _)) = &row {
                    self.ensure_user(*user_id).await?;
                }
                let mut maps = self.write();
                maps.drop_token(id);
                if let Some((hash, user_id, role, expires_at)) = row {
                    let role = Role::from_db(&role);
                    maps.put_token(
                        hash,
                        TokenEntry {
                            id,
                            user_id,
                            role,
                            expires_at,
                        },
                    );
                }
            }
            "javari_users" | "javari_user_totp" => {
                let row = self.fetch_user(id).await?;
                let mut maps = self.write();
                match row {
                    Some(entry) => {
                        maps.users.insert(id, entry);
                    }
                    None => {
                        maps.users.remove(&id);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn fetch_user(&self, id: Uuid) -> Result<Option<UserEntry>, sqlx::Error> {
        let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM javari_users u WHERE u.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(user_entry))
    }

    async fn ensure_user(&self, id: Uuid) -> Result<(), sqlx::Error> {
        if self.read().users.contains_key(&id) {
            return Ok(());
        }
        if let Some(entry) = self.fetch_user(id).await? {
            self.write().users.insert(id, entry);
        }
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Maps> {
        self.maps.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Maps> {
        self.maps.write().unwrap_or_else(|e| e.into_inner())
    }

    fn identity(
        maps: &Maps,
        user_id: Uuid,
        session_id: Option<Uuid>,
        token: Option<(Uuid, Role)>,
    ) -> Option<Identity> {
        let user = maps.users.get(&user_id).filter(|u| !u.disabled)?;
        let role = match token {
            Some((_, role)) => role.min(user.role),
            None => user.role,
        };
        Some(Identity {
            user: User {
                id: user_id,
                email: user.email.clone(),
                role,
            },
            session_id,
            token_id: token.map(|(id, _)| id),
            mfa_enrolled: user.mfa,
        })
    }

    /// The live session of a cookie token.
    pub async fn session(&self, token: &str) -> Result<Option<Identity>, sqlx::Error> {
        let hash = sha256_hex(token);
        let now = Utc::now();
        if self.ready.load(Ordering::SeqCst) {
            let maps = self.read();
            if let Some(s) = maps.sessions.get(&hash) {
                return Ok((s.expires_at > now)
                    .then(|| Self::identity(&maps, s.user_id, Some(s.id), None))
                    .flatten());
            }
        }
        let epoch = self.epoch.load(Ordering::SeqCst);
        self.db_lookups.fetch_add(1, Ordering::Relaxed);
        let row: Option<SessionUserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT s.id, s.user_id, s.expires_at, {USER_COLUMNS} \
                 FROM javari_auth_sessions(NULL, $1) s JOIN javari_users u ON u.id = s.user_id"
        )))
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some((id, user_id, expires_at, email, role, disabled, mfa)) = row else {
            return Ok(None);
        };
        let mut maps = Maps::default();
        maps.users
            .insert(user_id, user_entry((email, role, disabled, mfa)));
        let identity = Self::identity(&maps, user_id, Some(id), None);
        if self.ready.load(Ordering::SeqCst) && self.epoch.load(Ordering::SeqCst) == epoch {
            let mut cached = self.write();
            cached.users.extend(maps.users);
            cached.put_session(
                hash,
                SessionEntry {
                    id,
                    user_id,
                    expires_at,
                },
            );
        }
        Ok(identity)
    }

    /// The live API token of a bearer value; its use is noted for the next flush.
    pub async fn bearer(&self, token: &str) -> Result<Option<Identity>, sqlx::Error> {
        let hash = sha256_hex(token);
        let now = Utc::now();
        let mut found = None;
        if self.ready.load(Ordering::SeqCst) {
            let maps = self.read();
            if let Some(t) = maps.tokens.get(&hash) {
                if t.expires_at.is_some_and(|e| e <= now) {
                    return Ok(None);
                }
                found = Some(Self::identity(&maps, t.user_id, None, Some((t.id, t.role))));
            }
        }
        let identity = match found {
            Some(identity) => identity,
            None => self.bearer_from_db(hash).await?,
        };
        if let Some(id) = identity.as_ref().and_then(|i| i.token_id) {
            self.last_used
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, now);
        }
        Ok(identity)
    }

    async fn bearer_from_db(&self, hash: String) -> Result<Option<Identity>, sqlx::Error> {
        let epoch = self.epoch.load(Ordering::SeqCst);
        self.db_lookups.fetch_add(1, Ordering::Relaxed);
        type Row = (
            Uuid,
            Uuid,
            String,
            Option<DateTime<Utc>>,
            String,
            String,
            bool,
            bool,
        );
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT k.id, k.user_id, k.role, k.expires_at, {USER_COLUMNS} \
             FROM javari_auth_api_keys(NULL, $1) k JOIN javari_users u ON u.id = k.user_id"
        )))
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some((id, user_id, role, expires_at, email, user_role, disabled, mfa)) = row else {
            return Ok(None);
        };
        let role = Role::from_db(&role);
        let mut maps = Maps::default();
        maps.users
            .insert(user_id, user_entry((email, user_role, disabled, mfa)));
        let identity = Self::identity(&maps, user_id, None, Some((id, role)));
        if self.ready.load(Ordering::SeqCst) && self.epoch.load(Ordering::SeqCst) == epoch {
            let mut cached = self.write();
            cached.users.extend(maps.users);
            cached.put_token(
                hash,
                TokenEntry {
                    id,
                    user_id,
                    role,
                    expires_at,
                },
            );
        }
        Ok(identity)
    }

    /// This replica ended a session: refuse it now, before the notification comes back.
    pub fn forget_session(&self, id: Uuid) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.write().drop_session(id);
    }

    /// This replica revoked a token.
    pub fn forget_token(&self, id: Uuid) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.write().drop_token(id);
    }

    /// This replica changed a user (second factor enrolled …): read it again now.
    pub async fn refresh_user(&self, id: Uuid) -> Result<(), sqlx::Error> {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let entry = self.fetch_user(id).await?;
        let mut maps = self.write();
        match entry {
            Some(e) => maps.users.insert(id, e),
            None => maps.users.remove(&id),
        };
        Ok(())
    }

    /// Writes the tokens' last use noted since the previous flush, in one statement.
    pub async fn flush_last_used(&self) -> Result<u64, sqlx::Error> {
        let pending: Vec<(Uuid, DateTime<Utc>)> = {
            let mut map = self.last_used.lock().unwrap_or_else(|e| e.into_inner());
            map.drain().collect()
        };
        if pending.is_empty() {
            return Ok(0);
        }
        let (ids, times): (Vec<Uuid>, Vec<DateTime<Utc>>) = pending.into_iter().unzip();
        // Many users' tokens in one statement: the owner's function (last use only).
        let touched: i64 = sqlx::query_scalar("SELECT javari_auth_touch_api_keys($1, $2)")
            .bind(&ids)
            .bind(&times)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(touched).unwrap_or(0))
    }

    /// The listener has loaded everything and is current.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Lookups that went to the database (a cold cache, or a token it did not know).
    pub fn db_lookups(&self) -> u64 {
        self.db_lookups.load(Ordering::Relaxed)
    }

    /// Full loads so far (one at start, one after each reconnect).
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::SeqCst)
    }
}
