//! Fault injection, one mechanism for every supervised actor (docs/architecture.md §7).
//!
//! A plan is a list of rules `<action>@<path-glob>[:<trigger>]`:
//! - actions: `panic` (a panic inside the actor's handler), `kill` (like `exit(Pid, kill)`: no
//!   cleanup), `stop` (the handler returns an error), `delay=<ms>` (the handler is slow);
//! - triggers: `after=<n>` (the n-th message the actor at that path handles, counted across its
//!   restarts, so it fires once), `every=<duration>` (periodically; timed kills are jittered
//!   0.5–1.5 periods by the seeded generator; a duration as the config writes one, with its
//!   unit: `500ms`, `2s`, `1m`), `p=<probability>` (per
//!   message, from a generator seeded by `--fault-seed`, so a run repeats exactly); no trigger
//!   means `after=1`;
//! - globs: `*` within one path segment, `**` any number of segments.
//!
//! Each child gets a [`FaultHook`] narrowed to its path in its `StartCtx` and calls
//! [`FaultHook::check`] at the top of its handlers: that is the one call per actor. `kill` with
//! `every=` needs no message: the engine registers each started child's cell and a timer kills it,
//! so idle actors (a router with no subscriptions) can be killed too. Every injected fault is
//! logged with path, action and trigger, counted per rule, and recorded as a `fault` event in
//! the tree's [`crate::events`].
//!
//! That log line is the whole report of an injected panic: its payload starts with
//! [`INJECTED_PANIC`], so a process's panic hook can tell it from a real panic with
//! [`is_injected_panic`] and print nothing (no second message, no backtrace), while real
//! panics keep theirs.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use ractor::{ActorCell, ActorProcessingErr};
use serde::Serialize;

use crate::events::{EventKind, Events};
use crate::path::{glob_matches, validate_glob};

/// How the payload of an injected panic starts (then the path). It is a `String`, which ractor
/// turns into the failure's reason, so `last_exit` reads `injected fault: panic at <path>`.
pub const INJECTED_PANIC: &str = "injected fault: panic at ";

/// Whether a panic's payload is an injected `panic` fault's (already logged, with its path and
/// rule, when it fired) rather than a real panic.
pub fn is_injected_panic(payload: &(dyn Any + Send)) -> bool {
    payload
        .downcast_ref::<String>()
        .is_some_and(|message| message.starts_with(INJECTED_PANIC))
}

/// What a rule does to the actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Panic inside the handler.
    Panic,
    /// Kill, without cleanup.
    Kill,
    /// Return an error from the handler.
    Stop,
    /// Sleep this long inside the handler.
    Delay(Duration),
}

/// When a rule fires.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trigger {
    /// At the n-th message handled at that path.
    After(u64),
    /// Periodically.
    Every(Duration),
    /// With this probability per message.
    Probability(f64),
}

/// One parsed rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The text it was parsed from.
    pub spec: String,
    /// Its action.
    pub action: Action,
    /// The path glob.
    pub glob: String,
    /// Its trigger.
    pub trigger: Trigger,
}

impl Rule {
    /// Parses `<action>@<path-glob>[:<trigger>]`; the error shows the spec and what is wrong.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let bad = |what: String| format!("bad fault `{spec}`: {what}");
        let (action, rest) = spec
            .split_once('@')
            .ok_or_else(|| bad("expected <action>@<path-glob>[:<trigger>]".into()))?;
        let action = match action {
            "panic" => Action::Panic,
            "kill" => Action::Kill,
            "stop" => Action::Stop,
            other => match other.strip_prefix("delay=") {
                Some(ms) => {
                    Action::Delay(Duration::from_millis(ms.parse().map_err(|_| {
                        bad(format!("delay `{ms}` is not a number of milliseconds"))
                    })?))
                }
                None => {
                    return Err(bad(format!(
                        "unknown action `{other}` (panic, kill, stop, delay=<ms>)"
                    )))
                }
            },
        };
        // Path segments may hold ':' (listener ids), so the trigger is after the last ':' only
        // when that part names a trigger.
        let (glob, trigger) = match rest.rsplit_once(':') {
            Some((glob, t)) if ["after=", "every=", "p="].iter().any(|k| t.starts_with(k)) => (glob, Some(t)),
            _ => (rest, None),
        };
        validate_glob(glob).map_err(bad)?;
        let trigger = match trigger {
            None => Trigger::After(1),
            Some(t) => parse_trigger(t).map_err(bad)?,
        };
        Ok(Self {
            spec: spec.to_string(),
            action,
            glob: glob.to_string(),
            trigger,
        })
    }
}

fn parse_trigger(t: &str) -> Result<Trigger, String> {
    if let Some(n) = t.strip_prefix("after=") {
        match n.parse::<u64>() {
            Ok(n) if n >= 1 => Ok(Trigger::After(n)),
            _ => Err(format!("after=`{n}` must be a whole number of at least 1")),
        }
    } else if let Some(d) = t.strip_prefix("every=") {
        let d = parse_duration(d)?;
        if d.is_zero() {
            return Err("every= must be longer than 0".into());
        }
        Ok(Trigger::Every(d))
    } else if let Some(p) = t.strip_prefix("p=") {
        match p.parse::<f64>() {
            Ok(p) if (0.0..=1.0).contains(&p) => Ok(Trigger::Probability(p)),
            _ => Err(format!("p=`{p}` must be a probability between 0 and 1")),
        }
    } else {
        Err(format!(
            "unknown trigger `{t}` (after=<n>, every=<duration>, p=<probability>)"
        ))
    }
}

/// A duration as the configuration writes one (`500ms`, `2s`, `1m`, `1h 30m`), parsed by the
/// same parser: a bare number is refused, since `2` could mean 2 ms as well as 2 s.
fn parse_duration(d: &str) -> Result<Duration, String> {
    if !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "duration `{d}` needs a unit, like {d}ms or {d}s (as durations in the config)"
        ));
    }
    humantime::parse_duration(d).map_err(|e| format!("duration `{d}` is not like 500ms, 2s or 1m: {e}"))
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Panic => f.write_str("panic"),
            Action::Kill => f.write_str("kill"),
            Action::Stop => f.write_str("stop"),
            Action::Delay(d) => write!(f, "delay={}", d.as_millis()),
        }
    }
}

/// A rule and how often it fired, for `ctl faults`.
#[derive(Debug, Clone, Serialize)]
pub struct RuleReport {
    /// The rule as given.
    pub spec: String,
    /// Times it fired.
    pub fired: u64,
}

#[derive(Default)]
struct PathState {
    handled: u64,
    cell: Option<ActorCell>,
    /// When each `every=` rule last fired (or the incarnation started) at this path.
    every: HashMap<usize, tokio::time::Instant>,
}

/// The whole fault plan of a run.
pub struct FaultPlan {
    rules: Vec<Rule>,
    fired: Vec<AtomicU64>,
    paths: Mutex<HashMap<String, PathState>>,
    rng: Mutex<u64>,
    /// Where firings are recorded as `fault` events (the tree the plan was started with).
    events: OnceLock<Events>,
}

impl fmt::Debug for FaultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultPlan").field("rules", &self.rules).finish()
    }
}

impl FaultPlan {
    /// Parses every spec; the first bad one is the error.
    pub fn parse(specs: &[String], seed: u64) -> Result<Self, String> {
        let rules = specs
            .iter()
            .map(|s| Rule::parse(s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            fired: rules.iter().map(|_| AtomicU64::new(0)).collect(),
            rules,
            paths: Mutex::new(HashMap::new()),
            // splitmix64 needs a non-zero state to start well; any seed maps to one.
            rng: Mutex::new(seed ^ 0x9E37_79B9_7F4A_7C15),
            events: OnceLock::new(),
        })
    }

    /// Whether the plan has no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules and their counts.
    pub fn report(&self) -> Vec<RuleReport> {
        self.rules
            .iter()
            .zip(&self.fired)
            .map(|(r, n)| RuleReport {
                spec: r.spec.clone(),
                fired: n.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Rules whose glob matches none of `paths` (warned about once the tree has started).
    pub fn unmatched(&self, paths: &[String]) -> Vec<String> {
        self.rules
            .iter()
            .filter(|r| !paths.iter().any(|p| glob_matches(&r.glob, p)))
            .map(|r| r.spec.clone())
            .collect()
    }

    /// Warns, one line per rule, about the rules that match none of `paths` (every actor of a
    /// tree that has just started), and returns them. Such a rule is kept, not refused: it
    /// fires if a matching actor starts later (a dynamic child, such as a connection), but a
    /// typo in a glob should not go unnoticed.
    pub fn warn_unmatched(&self, paths: &[String]) -> Vec<String> {
        let unmatched = self.unmatched(paths);
        for rule in &unmatched {
            tracing::warn!(
                %rule,
                "fault rule matches no actor at start; it fires only if a matching actor starts later"
            );
        }
        unmatched
    }

    fn next_unit(&self) -> f64 {
        let mut state = self.rng.lock();
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    fn fire(&self, index: usize, path: &str) -> Action {
        let rule = &self.rules[index];
        self.fired[index].fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%path, action = %rule.action, rule = %rule.spec, "injected fault");
        if let Some(events) = self.events.get() {
            let (action, rule) = (rule.action.to_string(), rule.spec.clone());
            events.record(None, path.to_string(), EventKind::Fault { action, rule });
        }
        rule.action
    }

    /// Records every later firing in `events` (the first tree started with this plan keeps it).
    pub(crate) fn report_to(&self, events: &Events) {
        let _ = self.events.set(events.clone());
    }
}

/// A fault about to be applied: await it before handling the message.
pub type Fault = Pin<Box<dyn Future<Output = Result<(), ActorProcessingErr>> + Send>>;

/// A child's view of the plan: one word, `None` when no plan runs, since every supervised actor
/// keeps one in its state.
#[derive(Clone, Default)]
pub struct FaultHook(Option<Arc<Hooked>>);

/// The plan and the rules whose glob matches this path.
struct Hooked {
    plan: Arc<FaultPlan>,
    path: Arc<str>,
    rules: Box<[usize]>,
}

impl FaultHook {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// A hook for the whole plan, to hand to the root.
    pub fn from_plan(plan: Arc<FaultPlan>) -> Self {
        Self((!plan.is_empty()).then(|| {
            Arc::new(Hooked {
                plan,
                path: Arc::from(""),
                rules: Box::default(),
            })
        }))
    }

    /// The plan, if any.
    pub fn plan(&self) -> Option<&Arc<FaultPlan>> {
        self.0.as_ref().map(|h| &h.plan)
    }

    /// The hook for a child at `path`.
    pub fn for_path(&self, path: &str) -> Self {
        let Some(plan) = self.plan() else {
            return Self::default();
        };
        let rules: Vec<usize> = plan
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| glob_matches(&r.glob, path))
            .map(|(i, _)| i)
            .collect();
        Self(Some(Arc::new(Hooked {
            plan: plan.clone(),
            path: Arc::from(path),
            rules: rules.into(),
        })))
    }

    /// The hook's plan, path and rules, when it has rules.
    fn armed(&self) -> Option<&Hooked> {
        self.0.as_deref().filter(|h| !h.rules.is_empty())
    }

    /// Called by the engine when the child at this path has started: timed `kill` rules get a
    /// timer that kills this incarnation.
    pub(crate) fn started(&self, cell: &ActorCell) {
        let Some(hooked) = self.armed() else { return };
        let (plan, path, rules) = (&hooked.plan, &hooked.path, &hooked.rules);
        {
            let mut paths = plan.paths.lock();
            let state = paths.entry(path.to_string()).or_default();
            state.cell = Some(cell.clone());
            let now = tokio::time::Instant::now();
            for &index in rules.iter() {
                state.every.insert(index, now);
            }
        }
        for &index in rules.iter() {
            let rule = &plan.rules[index];
            if let (Action::Kill, Trigger::Every(period)) = (rule.action, rule.trigger) {
                // Jittered by the seeded generator (0.5 to 1.5 periods), so kills land at random
                // moments and a seed still names the run.
                let delay = period.mul_f64(0.5 + plan.next_unit());
                let (plan, cell, path) = (plan.clone(), cell.clone(), path.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    if cell.get_status() == ractor::ActorStatus::Running {
                        plan.fire(index, &path);
                        cell.kill();
                    }
                });
            }
        }
    }

    /// Called at the top of every handler: applies any fault due now.
    pub async fn check(&self) -> Result<(), ActorProcessingErr> {
        match self.due_now() {
            None => Ok(()),
            Some(fault) => fault.await,
        }
    }

    /// The fault due before this message, if one is, as a boxed future that applies it (a
    /// panic inside it, an error, a delay, or a kill that cancels the handler). Deciding is
    /// plain code and the common answer is `None`, so a handler pays for a future only when a
    /// fault fires; the boxed future keeps every actor's handler future small (ractor keeps it
    /// inline in each actor's processing loop).
    pub fn due_now(&self) -> Option<Fault> {
        let hooked = self.armed()?;
        let action = hooked.due()?;
        let path = hooked.path.clone();
        let plan = hooked.plan.clone();
        Some(Box::pin(async move {
            match action {
                // A `String` payload always (`panic!` with arguments may not box one for the hook).
                Action::Panic => std::panic::panic_any(format!("{INJECTED_PANIC}{path}")),
                Action::Stop => Err(format!("injected fault: stop at {path}").into()),
                Action::Delay(d) => {
                    tokio::time::sleep(d).await;
                    Ok(())
                }
                Action::Kill => {
                    let cell = plan.paths.lock().get(&*path).and_then(|s| s.cell.clone());
                    if let Some(cell) = cell {
                        cell.kill();
                        // The kill signal cancels this handler.
                        std::future::pending::<()>().await;
                    }
                    Ok(())
                }
            }
        }))
    }
}

impl Hooked {
    /// The action of the first rule that fires for this message, if one does.
    fn due(&self) -> Option<Action> {
        let plan = &self.plan;
        let mut paths = plan.paths.lock();
        let state = paths.entry(self.path.to_string()).or_default();
        state.handled += 1;
        let now = tokio::time::Instant::now();
        for &index in self.rules.iter() {
            let rule = &plan.rules[index];
            let fires = match rule.trigger {
                Trigger::After(n) => state.handled == n,
                Trigger::Probability(p) => plan.next_unit() < p,
                // Timed kills run off a timer (see `started`); other timed actions need the
                // handler, so they fire at the first message once the period has passed.
                Trigger::Every(period) => {
                    let since = state.every.entry(index).or_insert(now);
                    let due = rule.action != Action::Kill && now.saturating_duration_since(*since) >= period;
                    if due {
                        *since = now;
                    }
                    due
                }
            };
            if fires {
                return Some(plan.fire(index, &self.path));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_actions_globs_and_triggers() {
        let r = Rule::parse("panic@broker_sup/sm_sup/sm/*:after=100").unwrap();
        assert_eq!(
            (r.action, r.glob.as_str(), r.trigger),
            (Action::Panic, "broker_sup/sm_sup/sm/*", Trigger::After(100))
        );
        let r = Rule::parse("kill@**/session/*:p=0.001").unwrap();
        assert_eq!(r.trigger, Trigger::Probability(0.001));
        let r = Rule::parse("delay=50@**/router:every=2s").unwrap();
        assert_eq!(
            (r.action, r.trigger),
            (
                Action::Delay(Duration::from_millis(50)),
                Trigger::Every(Duration::from_secs(2))
            )
        );
        for (every, period) in [
            ("500ms", Duration::from_millis(500)),
            ("2s", Duration::from_secs(2)),
            ("1m", Duration::from_secs(60)),
            ("1h 30m", Duration::from_secs(5400)),
        ] {
            let r = Rule::parse(&format!("kill@a:every={every}")).unwrap();
            assert_eq!(r.trigger, Trigger::Every(period), "{every}");
        }
        let r = Rule::parse("kill@**/listener_sup/mqtt:tcp:0.0.0.0:1883/listener").unwrap();
        assert_eq!(
            (r.glob.as_str(), r.trigger),
            (
                "**/listener_sup/mqtt:tcp:0.0.0.0:1883/listener",
                Trigger::After(1)
            )
        );
    }

    #[test]
    fn bad_specs_show_the_spec_and_the_problem() {
        for (spec, problem) in [
            ("explode@a", "unknown action `explode`"),
            ("panic", "expected <action>@<path-glob>"),
            ("panic@a//b", "empty segment"),
            ("kill@a:p=1.5", "between 0 and 1"),
            ("kill@a:after=0", "at least 1"),
            ("kill@a:every=soon", "not like 500ms"),
            ("kill@a:every=2", "needs a unit, like 2ms or 2s"),
            ("kill@a:every=", "not like 500ms"),
            ("kill@a:every=0s", "longer than 0"),
            ("delay=x@a", "not a number"),
        ] {
            let err = Rule::parse(spec).unwrap_err();
            assert!(
                err.contains(&format!("`{spec}`")) && err.contains(problem),
                "{spec}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn after_n_fires_once_per_path_and_is_counted() {
        let plan = Arc::new(FaultPlan::parse(&["stop@a/*:after=3".into()], 1).unwrap());
        let hook = FaultHook::from_plan(plan.clone()).for_path("a/x");
        let other = FaultHook::from_plan(plan.clone()).for_path("b/x");
        let outcomes: Vec<bool> = futures_lite(&hook, 5).await;
        assert_eq!(outcomes, [true, true, false, true, true]);
        assert!(other.check().await.is_ok());
        // A new incarnation at the same path keeps the count: no second fire.
        let again = FaultHook::from_plan(plan.clone()).for_path("a/x");
        assert!(again.check().await.is_ok());
        assert_eq!(plan.report()[0].fired, 1);
        assert_eq!(plan.unmatched(&["c".into()]), ["stop@a/*:after=3"]);
        assert_eq!(plan.warn_unmatched(&["c".into()]), ["stop@a/*:after=3"]);
        assert!(plan.warn_unmatched(&["c".into(), "a/y".into()]).is_empty());
    }

    #[tokio::test]
    async fn an_injected_panic_is_recognisable_from_its_payload() {
        use futures::FutureExt;
        let plan = Arc::new(FaultPlan::parse(&["panic@a".into()], 1).unwrap());
        let hook = FaultHook::from_plan(plan).for_path("a");
        let payload = std::panic::AssertUnwindSafe(hook.check())
            .catch_unwind()
            .await
            .expect_err("the rule panics");
        assert!(is_injected_panic(payload.as_ref()));
        assert_eq!(
            payload.downcast_ref::<String>().map(String::as_str),
            Some("injected fault: panic at a")
        );
        let real = std::panic::catch_unwind(|| panic!("index out of bounds")).expect_err("panics");
        assert!(!is_injected_panic(real.as_ref()));
        let formatted = std::panic::catch_unwind(|| panic!("{}", "boom")).expect_err("panics");
        assert!(!is_injected_panic(formatted.as_ref()));
    }

    #[tokio::test]
    async fn probability_is_repeatable_with_a_seed() {
        let run = |seed| async move {
            let plan = Arc::new(FaultPlan::parse(&["stop@a:p=0.3".into()], seed).unwrap());
            futures_lite(&FaultHook::from_plan(plan).for_path("a"), 200).await
        };
        let first = run(7).await;
        assert_eq!(first, run(7).await);
        let failures = first.iter().filter(|ok| !**ok).count();
        assert!((30..=90).contains(&failures), "{failures}");
        assert_ne!(first, run(8).await);
    }

    async fn futures_lite(hook: &FaultHook, n: usize) -> Vec<bool> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(hook.check().await.is_ok());
        }
        out
    }
}
