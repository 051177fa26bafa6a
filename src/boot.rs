//! Boot: load the configuration, set up logging, start the tree, and wait for a signal or for
//! the root supervisor to give up.
//!
//! SIGINT/SIGTERM stop the tree in reverse start order (listeners first, so no new connection
//! arrives) within 10 s and exit 0. If broker_sup gives up (its intensity is 0 in 1 by default),
//! the reason is logged, naming the supervisor and the last failure, and the process exits 1.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use arbor_actors::api::{BrokerApi, ConfigLoader};
use arbor_actors::config::BrokerConfig;
use arbor_actors::tree::{self, BrokerHandle};
use std::sync::Arc;

use arbor_actors::store::{Recovered, Store, StoreError};
use arbor_supervisors::{FaultHook, FaultPlan, StartError};

use crate::cli::RunArgs;

/// How long an orderly shutdown may take before the process exits anyway.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(10);

/// `arbor run`.
pub fn main(args: RunArgs) -> ExitCode {
    let config = match crate::config::load_from_env(args.config.as_deref()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("arbor: {:#}", anyhow::Error::from(err));
            return ExitCode::from(2);
        }
    };
    // Bad certificate files stop the boot like a bad config: one line naming the file.
    if let Err(err) = arbor_actors::esockd::table::Listeners::new(&config.listeners) {
        eprintln!("arbor: {err}");
        return ExitCode::from(2);
    }
    let mut specs = config.fault.rules.clone();
    specs.extend(args.faults.iter().cloned());
    let plan = match FaultPlan::parse(&specs, args.fault_seed.unwrap_or(config.fault.seed)) {
        Ok(plan) => Arc::new(plan),
        Err(err) => {
            eprintln!("arbor: {err}");
            return ExitCode::from(2);
        }
    };
    crate::log::init(&config.log);
    crate::panic_hook::install();
    // A store that cannot be opened stops the boot like a bad config: one line, exit 2, and
    // nothing in it changed.
    let opened = match open_store(&config) {
        Ok(opened) => opened,
        Err(err) => {
            eprintln!("arbor: storage: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("arbor: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let file = args.config.clone();
    let loader: ConfigLoader = Arc::new(move || {
        crate::config::load_from_env(file.as_deref()).map_err(|e| format!("{:#}", anyhow::Error::from(e)))
    });
    runtime.block_on(run(
        config,
        opened,
        FaultHook::from_plan(plan),
        loader,
        args.events_kept,
    ))
}

/// Opens `[storage]` and reads what it holds, logging what was found.
pub fn open_store(config: &BrokerConfig) -> Result<(Store, Recovered), StoreError> {
    let (store, recovered) = Store::open(&config.storage)?;
    if store.enabled() {
        let messages: usize = recovered.sessions.iter().map(|s| s.messages.len()).sum();
        let info = store.info();
        tracing::info!(
            dir = %info.dir,
            durability = %info.durability,
            sessions = recovered.sessions.len(),
            messages,
            retained = recovered.retained.len(),
            read_ms = info.recovery_ms,
            "store opened"
        );
    }
    Ok((store, recovered))
}

async fn run(
    config: BrokerConfig,
    opened: (Store, Recovered),
    fault: FaultHook,
    loader: ConfigLoader,
    events_kept: usize,
) -> ExitCode {
    let handle = match start_with(config, opened, fault).await {
        Ok(handle) => handle,
        Err(err) => {
            // One line: what went wrong at the bottom of the chain (`cannot listen on …`). The
            // chain of supervisors above it is for whoever debugs the tree.
            tracing::debug!(chain = %format!("{err:#}"), "the broker did not start");
            eprintln!("arbor: {}", start_failure(&err));
            return ExitCode::FAILURE;
        }
    };
    handle.root.events().set_capacity(events_kept);
    handle.api.set_config_loader(loader);
    reload_on_sighup(handle.api.clone());
    // Listening before "arbor started" is logged: a SIGTERM sent on seeing that line must stop
    // the tree, not kill the process with the signal's default action.
    let stop = shutdown_signal();
    tracing::info!(node = %handle.api.config().node.name, version = env!("CARGO_PKG_VERSION"), "arbor started");
    tokio::select! {
        () = stop => {
            tracing::info!("signal received, stopping the tree");
            match tokio::time::timeout(SHUTDOWN_LIMIT, handle.shutdown()).await {
                Ok(_) => {
                    tracing::info!("stopped");
                    ExitCode::SUCCESS
                }
                Err(_) => {
                    tracing::error!("shutdown took longer than {SHUTDOWN_LIMIT:?}, exiting");
                    ExitCode::FAILURE
                }
            }
        }
        reason = handle.root.wait() => {
            tracing::error!(supervisor = tree::ROOT, %reason, "broker_sup gave up, exiting");
            eprintln!("arbor: broker_sup gave up: {reason}");
            ExitCode::FAILURE
        }
    }
}

/// Starts the broker tree with the admin API in it (what `arbor run` runs, and what the
/// integration tests start in-process).
pub async fn start(config: BrokerConfig, fault: FaultHook) -> anyhow::Result<BrokerHandle> {
    let opened = open_store(&config).context("storage")?;
    start_with(config, opened, fault).await
}

/// As [`start`], with the store already opened.
pub async fn start_with(
    config: BrokerConfig,
    opened: (Store, Recovered),
    fault: FaultHook,
) -> anyhow::Result<BrokerHandle> {
    let extra: tree::ExtraChildren = Box::new(|broker| vec![crate::admin::spec(broker)]);
    tree::start(config, opened, extra, fault)
        .await
        .context("the broker did not start")
}

/// What to tell a person when the tree did not start: the root cause of a start error (the
/// child that failed and why, not every supervisor above it), else the whole error.
pub fn start_failure(err: &anyhow::Error) -> String {
    match err.downcast_ref::<StartError>() {
        Some(start) => start.root_cause().to_string(),
        None => format!("{err:#}"),
    }
}

/// SIGHUP reloads the password file and ACL, and TLS listeners' certificates (connections stay).
fn reload_on_sighup(broker: BrokerApi) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            if let Err(e) = broker.reload_access() {
                tracing::error!(error = %e, "SIGHUP: reload failed, old rules kept");
            }
            if let Err(e) = broker.reload_listeners() {
                tracing::error!(error = %e, "SIGHUP: certificate reload failed, old ones kept");
            }
        }
    });
}

/// SIGINT or SIGTERM, whichever comes first. The handlers are installed when this is called,
/// not when the future is first polled.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
