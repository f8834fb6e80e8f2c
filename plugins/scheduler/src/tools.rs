//! The tools: `schedule_task`, `list_tasks`, `upcoming_tasks`, `cancel_task`,
//! `pause_task`, `resume_task`. Each acts in the group of the calling session
//! (from the envelope); a new task takes that session's trust. Must never take
//! a group, a trust or a time source from arguments, change a task the person
//! declared in the config, or let a session change a task made by a session
//! trusted more than it.

use carapace_plugin_sdk::{CallContext, ToolError};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{Invalid, SchedError};
use crate::misfire::Misfire;
use crate::runner::Scheduler;
use crate::store::NewTask;
use crate::task::{Creator, Source, State, Task, Trust};
use crate::timing::{utc, Schedule, Timing};

/// Longest prompt, in characters (the core takes at most 32 KiB).
pub const MAX_PROMPT_CHARS: usize = 8000;
/// Most fires `upcoming_tasks` lists.
pub const MAX_UPCOMING: usize = 200;
/// How many next fires `schedule_task` shows.
const SHOWN_NEXT: usize = 3;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleArgs {
    #[serde(default)]
    cron: Option<String>,
    #[serde(default)]
    at: Option<String>,
    tz: String,
    prompt: String,
    #[serde(default)]
    misfire: Misfire,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdArgs {
    id: String,
}

/// `list_tasks` takes nothing: any argument is refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpcomingArgs {
    #[serde(default = "default_hours")]
    hours: u32,
}

fn default_hours() -> u32 {
    24
}

/// Answers one tool call.
pub fn call(
    scheduler: &Scheduler,
    ctx: &CallContext,
    tool: &str,
    arguments: Value,
) -> Result<Value, ToolError> {
    let group = ctx.group();
    if group.is_empty() {
        return Err(ToolError::new("this call names no group"));
    }
    let now = scheduler
        .now()
        .ok_or_else(|| ToolError::retriable("the scheduler's clock cannot be read"))?;
    let trust = Trust::of(ctx.origin().map(|o| o.trust.as_str()));
    let viewer = Viewer {
        trust,
        session: ctx.session_id(),
        creator: creator_of(ctx),
    };
    let answer = match tool {
        "schedule_task" => schedule(scheduler, group, &viewer, ctx.args(arguments)?, now),
        "list_tasks" => {
            let NoArgs {} = ctx.args(arguments)?;
            list(scheduler, group, &viewer)
        }
        "upcoming_tasks" => upcoming(
            scheduler,
            group,
            &viewer,
            ctx.args::<UpcomingArgs>(arguments)?.hours,
            now,
        ),
        "cancel_task" | "pause_task" | "resume_task" => {
            let id = ctx.args::<IdArgs>(arguments)?.id;
            change(scheduler, group, &viewer, tool, &id, now)
        }
        other => {
            return Err(ToolError::new(format!(
                "unknown tool `{}`",
                other.escape_debug()
            )))
        }
    };
    answer.map_err(|e| e.to_tool_error())
}

/// A prompt the core will take: not blank, bounded, no NUL.
pub fn check_prompt(prompt: &str) -> Result<(), Invalid> {
    if prompt.trim().is_empty() {
        return Err(Invalid::new("prompt", "the prompt is empty"));
    }
    if prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(Invalid::new(
            "prompt",
            format!("at most {MAX_PROMPT_CHARS} characters"),
        ));
    }
    if prompt.contains('\0') {
        return Err(Invalid::new("prompt", "the prompt contains NUL"));
    }
    Ok(())
}

/// Checks a task's schedule at `now`: its first slot, or why it has none.
pub fn first_slot(timing: &Timing, now: Timestamp) -> Result<Timestamp, Invalid> {
    match timing.schedule() {
        Schedule::At(at) if *at <= now => Err(Invalid::new(
            "at",
            format!("{} is in the past (now is {})", utc(*at), utc(now)),
        )),
        Schedule::At(at) => Ok(*at),
        Schedule::Cron(..) => timing
            .next_after(now)
            .ok_or_else(|| Invalid::new("cron", "this pattern never fires")),
    }
}

/// The calling session's sender, from the envelope the core built.
fn creator_of(ctx: &CallContext) -> Option<Creator> {
    let origin = ctx.origin()?;
    Creator::of(
        &origin.kind,
        origin.plugin.as_deref(),
        origin.sender.as_deref(),
    )
}

fn schedule(
    scheduler: &Scheduler,
    group: &str,
    viewer: &Viewer,
    args: ScheduleArgs,
    now: Timestamp,
) -> Result<Value, SchedError> {
    let timing = Timing::parse(args.cron.as_deref(), args.at.as_deref(), &args.tz)?;
    check_prompt(&args.prompt)?;
    let first = first_slot(&timing, now)?;
    let at = match timing.schedule() {
        Schedule::At(at) => Some(*at),
        Schedule::Cron(..) => None,
    };
    let task = scheduler.store.create(
        &NewTask {
            group: group.to_owned(),
            cron: args.cron.as_ref().map(|c| c.trim().to_owned()),
            at,
            tz: timing.zone_name().to_owned(),
            prompt: args.prompt,
            misfire: args.misfire,
            trust: viewer.trust,
            created_by: viewer.session.map(str::to_owned),
            creator: viewer.creator.clone(),
            next_at: Some(first),
        },
        now,
        scheduler.config.max_tasks_per_group,
    )?;
    scheduler.wake();
    let mut next = vec![first];
    next.extend(timing.slots(first, Timestamp::MAX, SHOWN_NEXT - 1));
    let next: Vec<Value> = next
        .into_iter()
        .map(|slot| slot_view(&timing, slot))
        .collect();
    Ok(json!({"task": view(&task, Some(&timing)), "next": next}))
}

/// Who is asking: the owner's sessions see every task of the group; any other
/// session sees only the tasks its own sender made (the same origin kind,
/// plugin and sender, in this or an earlier session of the group) or, for a
/// session without a sender and for tasks stored before the sender was, the
/// tasks this very session made. Never the owner's prompts, nor another
/// sender's tasks, nor those of the same sender string from another plugin.
struct Viewer<'a> {
    trust: Trust,
    session: Option<&'a str>,
    creator: Option<Creator>,
}

impl Viewer<'_> {
    fn sees(&self, task: &Task) -> bool {
        if self.trust == Trust::Owner {
            return true;
        }
        let same_session = self.session.is_some() && task.created_by.as_deref() == self.session;
        let same_sender = self.creator.is_some() && task.creator == self.creator;
        same_session || same_sender
    }
}

fn list(scheduler: &Scheduler, group: &str, viewer: &Viewer) -> Result<Value, SchedError> {
    let tasks: Vec<Value> = scheduler
        .store
        .list(group)?
        .iter()
        .filter(|task| viewer.sees(task))
        .map(|task| view(task, task.timing().ok().as_ref()))
        .collect();
    Ok(json!({"tasks": tasks, "group_paused": scheduler.is_paused(group)}))
}

fn upcoming(
    scheduler: &Scheduler,
    group: &str,
    viewer: &Viewer,
    hours: u32,
    now: Timestamp,
) -> Result<Value, SchedError> {
    if !(1..=168).contains(&hours) {
        return Err(Invalid::new("hours", "from 1 to 168").into());
    }
    let until = now
        .checked_add(SignedDuration::from_hours(i64::from(hours)))
        .unwrap_or(Timestamp::MAX);
    let mut fires = Vec::new();
    for task in scheduler.store.list(group)? {
        if task.state != State::Active || !viewer.sees(&task) {
            continue;
        }
        let (Ok(timing), Some(next)) = (
            task.timing(),
            task.next_at.and_then(|n| Timestamp::from_second(n).ok()),
        ) else {
            continue;
        };
        if next > until {
            continue;
        }
        let mut slots = vec![next];
        slots.extend(timing.slots(next, until, MAX_UPCOMING));
        for slot in slots {
            let mut shown = slot_view(&timing, slot);
            shown["task"] = json!(task.id);
            shown["prompt"] = json!(task.prompt.chars().take(200).collect::<String>());
            fires.push((slot, shown));
        }
    }
    fires.sort_by_key(|(slot, _)| *slot);
    let more = fires.len() > MAX_UPCOMING;
    fires.truncate(MAX_UPCOMING);
    let fires: Vec<Value> = fires.into_iter().map(|(_, shown)| shown).collect();
    Ok(
        json!({"from": utc(now), "until": utc(until), "fires": fires, "more": more,
              "group_paused": scheduler.is_paused(group)}),
    )
}

fn change(
    scheduler: &Scheduler,
    group: &str,
    viewer: &Viewer,
    tool: &str,
    id: &str,
    now: Timestamp,
) -> Result<Value, SchedError> {
    let trust = viewer.trust;
    let task = scheduler.store.get(group, id)?;
    // A task this session may not see is answered as if it did not exist.
    if !viewer.sees(&task) {
        return Err(Invalid::new("id", "no task with this id in this group").into());
    }
    if task.source == Source::Config {
        return Err(Invalid::new(
            "id",
            "this task is declared in the person's config.toml; only they can change it",
        )
        .into());
    }
    if trust < task.trust {
        return Err(Invalid::new(
            "id",
            format!(
                "this task was made by a session trusted as {}; this one may not change it",
                task.trust.as_str()
            ),
        )
        .into());
    }
    let (state, next) = match (tool, task.state) {
        (_, State::Cancelled | State::Done) => {
            return Err(Invalid::new(
                "id",
                format!("this task is {} already", task.state.as_str()),
            )
            .into())
        }
        ("cancel_task", _) => (State::Cancelled, None),
        ("pause_task", _) => (State::Paused, None),
        (_, State::Active) => (
            State::Active,
            task.next_at.and_then(|n| Timestamp::from_second(n).ok()),
        ),
        (_, State::Paused) => {
            // Slots while paused are passed over: the next one from now.
            let next = task.timing().ok().and_then(|timing| timing.next_after(now));
            (
                if next.is_some() {
                    State::Active
                } else {
                    State::Done
                },
                next,
            )
        }
    };
    scheduler.store.set_state(&task.id, state, next)?;
    scheduler.wake();
    let mut task = task;
    task.state = state;
    task.next_at = next.map(|n| n.as_second());
    Ok(json!({"task": view(&task, task.timing().ok().as_ref())}))
}

/// A slot as the agent sees it: UTC and local.
fn slot_view(timing: &Timing, slot: Timestamp) -> Value {
    json!({"utc": utc(slot), "local": timing.local(slot), "tz": timing.zone_name()})
}

/// A task as the agent sees it.
fn view(task: &Task, timing: Option<&Timing>) -> Value {
    let mut shown = json!({
        "id": task.id,
        "source": task.source,
        "tz": task.tz,
        "prompt": task.prompt,
        "misfire": task.misfire,
        "trust": task.trust,
        "state": task.state,
    });
    if let Some(cron) = &task.cron {
        shown["cron"] = json!(cron);
    }
    if let Some(at) = task.at.and_then(|at| Timestamp::from_second(at).ok()) {
        shown["at"] = json!(utc(at));
    }
    if let (Some(next), Some(timing)) = (
        task.next_at.and_then(|n| Timestamp::from_second(n).ok()),
        timing,
    ) {
        if task.state == State::Active {
            shown["next"] = slot_view(timing, next);
        }
    }
    shown
}
