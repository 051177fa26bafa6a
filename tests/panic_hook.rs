//! The binary's panic hook: an injected fault's panic prints nothing (its one log line is all),
//! a real panic still reaches the hook it replaced, Rust's default one with its backtrace. Its
//! own test binary, since a panic hook is global to the process.

use std::sync::{Arc, Mutex};

use arbor_supervisors::{FaultHook, FaultPlan};
use futures::FutureExt;

#[tokio::test]
async fn injected_panics_are_silent_and_real_panics_reach_the_previous_hook() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    // Stands in for the default hook (which prints the message and the backtrace).
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        record.lock().expect("not poisoned").push(message);
    }));
    arbor::panic_hook::install();

    let plan = Arc::new(FaultPlan::parse(&["panic@broker_sup/sys".into()], 1).expect("a valid rule"));
    let hook = FaultHook::from_plan(plan).for_path("broker_sup/sys");
    let injected = std::panic::AssertUnwindSafe(hook.check()).catch_unwind().await;
    assert!(injected.is_err(), "the rule panics");
    let real = std::panic::catch_unwind(|| panic!("a real bug"));
    assert!(real.is_err());

    let _ = std::panic::take_hook();
    assert_eq!(*seen.lock().expect("not poisoned"), ["a real bug"]);
}
