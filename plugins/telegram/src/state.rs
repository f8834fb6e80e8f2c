//! What the plugin's threads share once `initialize` has run: the config, the Bot API
//! clients, the stores in the data dir, the typing bookkeeping, the names of the
//! users seen, the link to the core (from `started` on) and the delivery queue.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use carapace_plugin_sdk::{CoreLink, Init, InitError, Level};

use crate::api::{BotApi, RetryPolicy, Transport, UreqTransport};
use crate::budget_card::BudgetCard;
use crate::cards::{Cards, OpenCard};
use crate::config::Config;
use crate::history::History;
use crate::ids::{ChatId, MessageId, UserId};
use crate::inbound::Refusal;
use crate::offset::OffsetFile;
use crate::queue::{Jobs, Pushed};
use crate::refusals::RefusalLog;
use crate::token::BotToken;
use crate::typing::Typing;

/// Longest a tool's send waits for a `retry_after` (the core's call deadline is 30 s).
const TOOL_MAX_RETRY_WAIT: Duration = Duration::from_secs(10);
/// Most names of users remembered.
const MAX_NAMES: usize = 1024;

pub use crate::queue::Job;

/// The plugin's shared state.
pub struct Shared {
    /// The plugin's name as the core knows it (its folder).
    pub me: String,
    /// The checked config.
    pub config: Config,
    /// Bot API client for background work (full retry policy).
    pub api: BotApi,
    /// Bot API client for tool calls (bounded to fit the core's call deadline).
    pub tool_api: BotApi,
    /// Where the poll offset is kept.
    pub offset: OffsetFile,
    /// The offset read at `initialize`.
    pub start_offset: i64,
    /// Recent messages per chat.
    pub history: History,
    /// Open approval cards.
    pub cards: Cards<OpenCard>,
    /// Open budget cards: what each offered.
    pub budget_cards: Cards<BudgetCard>,
    /// The cards a previous run left open, to check with the core once.
    pub cards_from_before: Mutex<Vec<OpenCard>>,
    /// Chats showing "typing".
    pub typing: Typing,
    /// Rate limit of `telegram.refused` lines.
    pub refusals: RefusalLog,
    /// Set at `shutdown`: the poller handles no further update.
    pub stop: AtomicBool,
    /// Held while one update is handled and its offset written.
    pub handling: Mutex<()>,
    /// This bot's username, from `getMe` at start (commands `@`-addressed to another
    /// bot are not this bot's).
    pub bot_name: OnceLock<String>,
    names: Mutex<HashMap<UserId, String>>,
    link: OnceLock<CoreLink>,
    /// The delivery thread's work: cards before answers.
    pub jobs: Jobs,
}

/// The transport of a plugin with no chat mapped: every call fails, none leaves the host.
struct NotSetUp;

impl Transport for NotSetUp {
    fn post(
        &self,
        _method: &str,
        _body: &crate::api::transport::Body,
        _timeout: std::time::Duration,
    ) -> Result<crate::api::transport::HttpReply, crate::api::transport::TransportError> {
        Err(crate::api::transport::TransportError::Connect)
    }
}

impl Shared {
    /// Sets everything up from `initialize`'s params (no network yet). With no
    /// chat mapped the plugin is not set up: it needs no token, polls nothing and
    /// sends nothing (it is bundled, and must not fail `doctor` for everyone
    /// who does not use Telegram).
    pub fn initialize(init: &Init) -> Result<Shared, InitError> {
        let config = Config::from_init(init)?;
        if !config.is_set_up() {
            let transport: Arc<dyn Transport> = Arc::new(NotSetUp);
            return Shared::with_transport(&init.plugin, &init.data_dir, config, transport);
        }
        let token = BotToken::from_init(init)?;
        let transport: Arc<dyn Transport> =
            Arc::new(UreqTransport::new(config.api_base.clone(), token));
        Shared::with_transport(&init.plugin, &init.data_dir, config, transport)
    }

    /// Sets everything up on `transport` (what [`Shared::initialize`] does, without the SDK).
    pub fn with_transport(
        me: &str,
        data_dir: &Path,
        config: Config,
        transport: Arc<dyn Transport>,
    ) -> Result<Shared, InitError> {
        let internal = |what: &str, e: &dyn std::fmt::Display| {
            InitError::internal(format!("{what} {}: {e}", data_dir.display()))
        };
        std::fs::create_dir_all(data_dir).map_err(|e| internal("cannot create", &e))?;
        let offset = OffsetFile::in_dir(data_dir);
        let start_offset = offset
            .load()
            .map_err(|e| InitError::internal(e.to_string()))?;
        let history = History::open(data_dir, config.history_per_chat)
            .map_err(|e| internal("cannot open the history in", &e))?;
        let api = BotApi::new(
            Arc::clone(&transport),
            RetryPolicy::new(config.max_retry_wait),
        );
        let tool_policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::new(config.max_retry_wait.min(TOOL_MAX_RETRY_WAIT))
        };
        let cards = Cards::load(data_dir, "cards.json");
        let cards_from_before = Mutex::new(cards.all());
        Ok(Shared {
            me: me.to_owned(),
            typing: Typing::new(config.typing_max),
            api,
            tool_api: BotApi::new(transport, tool_policy),
            offset,
            start_offset,
            history,
            cards,
            budget_cards: Cards::load(data_dir, "budget_cards.json"),
            cards_from_before,
            refusals: RefusalLog::new(Instant::now()),
            stop: AtomicBool::new(false),
            handling: Mutex::new(()),
            config,
            bot_name: OnceLock::new(),
            names: Mutex::new(HashMap::new()),
            link: OnceLock::new(),
            jobs: Jobs::new(),
        })
    }

    /// Keeps the link to the core (from `started`).
    pub fn set_link(&self, link: &CoreLink) {
        let _ = self.link.set(link.clone());
    }

    /// The link to the core, once `started` ran.
    pub fn link(&self) -> Option<&CoreLink> {
        self.link.get()
    }

    /// Whether the core went away, or asked the plugin to stop.
    pub fn closed(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.link.get().is_some_and(CoreLink::is_closed)
    }

    /// Stops the poller between two updates: waits (at most `limit`) for the update
    /// being handled to be done and its offset written.
    pub fn stop_polling(&self, limit: Duration) {
        self.stop.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            match self.handling.try_lock() {
                Ok(_) | Err(std::sync::TryLockError::Poisoned(_)) => return,
                Err(std::sync::TryLockError::WouldBlock) => {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }

    /// Queues `job` for the delivery thread; a full lane drops it, logged (the
    /// first few, then every 64th, with the count so far).
    pub fn queue(&self, job: Job) {
        let what = job.what();
        if let Pushed::Dropped { lane, total } = self.jobs.push(job) {
            if total <= 3 || total.is_multiple_of(64) {
                self.log(
                    Level::Warn,
                    format!(
                        "telegram.dropped what={what} lane={lane} reason=queue_full dropped_total={total}"
                    ),
                );
            }
        }
    }

    /// Queues a short reply.
    pub fn reply(&self, chat: ChatId, reply_to: Option<MessageId>, text: impl Into<String>) {
        self.queue(Job::Reply {
            chat,
            reply_to,
            text: text.into(),
        });
    }

    /// Logs to the core (stderr before `started`). Never pass a token or a message's text.
    pub fn log(&self, level: Level, message: impl AsRef<str>) {
        match self.link.get() {
            Some(link) => link.log(level, message),
            None => eprintln!("carapace-plugin-telegram: {}", message.as_ref()),
        }
    }

    /// Logs `refusal` as `telegram.refused` (rate limited), and records it in the audit log.
    pub fn refused(&self, refusal: &Refusal) {
        if let Some(line) = self.refusals.line(refusal, Instant::now()) {
            self.log(Level::Warn, line);
            // And into the audit log (`telegram.refused`), ids only, never the
            // text; the core bounds how many such lines a window holds.
            if let Some(link) = self.link.get() {
                let _ = link.record(
                    "refused",
                    serde_json::json!({"reason": refusal.reason,
                                       "chat": refusal.chat.map(|c| c.0),
                                       "user": refusal.user.map(|u| u.0)}),
                );
            }
        }
    }

    /// Remembers `user`'s name, to show on cards.
    pub fn remember_name(&self, user: UserId, name: &str) {
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        if names.len() >= MAX_NAMES && !names.contains_key(&user) {
            names.clear();
        }
        names.insert(user, name.to_owned());
    }

    /// The name of the user whose id is `sender` (a session origin's sender), if seen.
    pub fn name_of_sender(&self, sender: &str) -> Option<String> {
        let user = UserId::parse(sender)?;
        self.names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&user)
            .cloned()
    }
}
