//! The scheduler plugin: prompts that run on time, in the task's own zone,
//! exactly once per fire.
//!
//! A task is a prompt with a 5-field cron pattern or one instant (`at`), an
//! IANA zone and a misfire policy; it belongs to the group of the session that
//! made it and carries that session's trust, or is declared by the person in
//! the config. When a slot comes, the plugin records the fire, publishes
//! `task.triggered` (`{fire_id, task, prompt, trust, ...}`), and the core starts
//! a session of origin `task` with that trust. See `runner` for exactly-once,
//! `timing` for DST, `misfire` for downtime.
//!
//! Must never: take a group, trust or clock from arguments; run anything but a
//! prompt; fire a slot before its instant; publish a fire it has not committed;
//! touch a database it refuses.

#![deny(missing_docs)]

mod clock;
mod config;
mod database;
mod error;
mod handler;
mod misfire;
mod paused;
mod publish;
mod runner;
mod schema;
mod store;
mod task;
mod timing;
mod tools;

pub use clock::Clock;
pub use config::{
    Config, ConfigTask, DEFAULT_GRACE_SECS, DEFAULT_MAX_CATCH_UP, DEFAULT_MAX_CATCH_UP_PER_GROUP,
    DEFAULT_MAX_TASKS,
};
pub use database::FILE as DATABASE_FILE;
pub use error::{Invalid, SchedError};
pub use handler::SchedulerHandler;
pub use misfire::{plan, Misfire, Plan};
pub use publish::{verdict, Verdict};
pub use runner::{Delivery, Scheduler, RETRY_EVERY};
pub use schema::SCHEMA_VERSION;
pub use store::{NewTask, Store};
pub use task::{fire_id, Creator, Fire, Source, State, Task, Trust};
pub use timing::{
    hours_of, local_instant, parse_at, parse_cron, utc, zone, Hours, Schedule, Timing,
};
pub use tools::{check_prompt, first_slot, MAX_PROMPT_CHARS, MAX_UPCOMING};
