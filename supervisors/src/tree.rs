//! The live tree: `which_children`, `count_children` and a recursive `tree()` view.
//!
//! Read straight from each supervisor's shared table, so a supervisor that is busy restarting
//! still shows up (with its children `restarting`). A dynamic supervisor reports its child count
//! and lists its children only when asked, since it may hold a hundred thousand: at the node
//! the view starts from (`expand`), or at every level (`all_children`), each at most `limit`.

use ractor::ActorCell;
use serde::Serialize;

use crate::children::{Child, ChildStatus, Inner};
use crate::spec::{ChildKind, Restart, Strategy};
use crate::supervisor::SupervisorRef;

/// One node of the tree view (the JSON of `GET /api/v1/tree`).
#[derive(Debug, Clone, Serialize)]
pub struct TreeNode {
    /// Stable path, `broker_sup/sm_sup/sm/3`.
    pub path: String,
    /// The id under its parent (`sm/3`).
    pub id: String,
    /// Worker or supervisor.
    pub kind: ChildKind,
    /// Restart type under its parent (none for the root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<Restart>,
    /// Supervisors: the strategy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// Supervisors: intensity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_restarts: Option<u32>,
    /// Supervisors: intensity period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_seconds: Option<u64>,
    /// How many times its parent restarted this node.
    pub restarts: u64,
    /// Supervisors: how many restarts it performed on its children.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child_restarts: Option<u64>,
    /// `running`, `restarting`, `stopped`, ...
    pub status: String,
    /// Why its last incarnation ended, if it ever did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<String>,
    /// Supervisors: the last abnormal exit among its children.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
    /// The ractor actor id of the live incarnation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    /// Supervisors: number of children (always given, even when they are not listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child_count: Option<usize>,
    /// Listed children (dynamic supervisors list theirs only when expanded).
    pub children: Vec<TreeNode>,
}

/// What `tree()` should include.
#[derive(Debug, Clone, Copy)]
pub struct TreeOpts {
    /// Levels below the starting node to include (`None`: all).
    pub depth: Option<usize>,
    /// List the children of dynamic supervisors at the starting node.
    pub expand: bool,
    /// List the children of every dynamic supervisor in the view, so a tool sees acceptors and
    /// connections in one call instead of one per supervisor.
    pub all_children: bool,
    /// At most this many dynamic children per supervisor when listed.
    pub limit: usize,
}

impl Default for TreeOpts {
    fn default() -> Self {
        Self {
            depth: None,
            expand: false,
            all_children: false,
            limit: 1000,
        }
    }
}

/// One child as `which_children` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct ChildInfo {
    /// Id.
    pub id: String,
    /// Path.
    pub path: String,
    /// Kind.
    pub kind: ChildKind,
    /// Status.
    pub status: ChildStatus,
    /// Restarts of this child so far.
    pub restarts: u64,
    /// Live cell.
    #[serde(skip)]
    pub cell: Option<ActorCell>,
}

/// OTP `count_children`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ChildCounts {
    /// Child specs (for a dynamic supervisor: children).
    pub specs: usize,
    /// Children alive.
    pub active: usize,
    /// Supervisor children.
    pub supervisors: usize,
    /// Worker children.
    pub workers: usize,
}

/// A node found by path.
pub struct Found {
    /// Its cell, when alive.
    pub cell: Option<ActorCell>,
    /// Its handle, when it is a supervisor.
    pub supervisor: Option<SupervisorRef>,
    /// The supervisor that owns it (none for the root).
    pub parent: Option<SupervisorRef>,
}

impl SupervisorRef {
    /// OTP `which_children`.
    pub fn which_children(&self) -> Vec<ChildInfo> {
        let inner = self.shared.inner.lock();
        inner
            .iter()
            .filter(|(_, c)| Inner::is_listed(c))
            .map(|(_, c)| ChildInfo {
                id: c.id.clone(),
                path: c.path(&self.shared.path),
                kind: c.kind,
                status: c.status,
                restarts: c.restarts,
                cell: c.cell.clone(),
            })
            .collect()
    }

    /// OTP `count_children`.
    pub fn count_children(&self) -> ChildCounts {
        let inner = self.shared.inner.lock();
        let mut counts = ChildCounts::default();
        for (_, c) in inner.iter().filter(|(_, c)| Inner::is_listed(c)) {
            counts.specs += 1;
            counts.active += usize::from(c.cell.is_some());
            match c.kind {
                ChildKind::Supervisor => counts.supervisors += 1,
                ChildKind::Worker => counts.workers += 1,
            }
        }
        counts
    }

    /// The tree below (and including) this supervisor, as its own root.
    pub fn tree(&self, opts: TreeOpts) -> TreeNode {
        let id = self.path().rsplit('/').next().unwrap_or_default().to_string();
        let mut node = TreeNode {
            path: self.path().to_string(),
            id,
            kind: ChildKind::Supervisor,
            restart: None,
            strategy: None,
            max_restarts: None,
            max_seconds: None,
            restarts: 0,
            child_restarts: None,
            status: status_name(self),
            last_exit: None,
            last_failure: None,
            actor_id: Some(self.cell().get_id().to_string()),
            child_count: None,
            children: Vec::new(),
        };
        self.fill(&mut node, opts, opts.expand);
        node
    }

    /// The subtree at `path` (which may be this supervisor or any node below it).
    pub fn subtree(&self, path: &str, opts: TreeOpts) -> Option<TreeNode> {
        if path == self.path() {
            return Some(self.tree(opts));
        }
        let (parent, id) = self.locate(path)?;
        let inner = parent.shared.inner.lock();
        let child = inner.iter().find(|(_, c)| c.id == id).map(|(_, c)| c)?;
        Some(child_node(parent.path(), child, opts, opts.expand))
    }

    /// Finds a node by path: its cell, its handle if it is a supervisor, and its parent.
    pub fn find(&self, path: &str) -> Option<Found> {
        if path == self.path() {
            return Some(Found {
                cell: Some(self.cell()),
                supervisor: Some(self.clone()),
                parent: None,
            });
        }
        let (parent, id) = self.locate(path)?;
        let found = {
            let inner = parent.shared.inner.lock();
            let found = inner
                .iter()
                .find(|(_, c)| c.id == id && c.cell.is_some())
                .map(|(_, c)| (c.cell.clone(), c.sup.clone()));
            found
        };
        found.map(|(cell, supervisor)| Found {
            cell,
            supervisor,
            parent: Some(parent),
        })
    }

    /// Every live path at and below this supervisor, dynamic children included.
    pub fn paths(&self) -> Vec<String> {
        let mut out = vec![self.path().to_string()];
        let inner = self.shared.inner.lock();
        for (_, child) in inner.iter().filter(|(_, c)| c.cell.is_some()) {
            match &child.sup {
                Some(sup) => out.extend(sup.paths()),
                None => out.push(child.path(self.path())),
            }
        }
        out
    }

    /// The supervisor directly owning `path`, and the id `path` has there.
    fn locate(&self, path: &str) -> Option<(SupervisorRef, String)> {
        let rest = path.strip_prefix(self.path())?.strip_prefix('/')?;
        let inner = self.shared.inner.lock();
        // The child whose id is the longest prefix of the rest of the path (ids may hold '/').
        let (_, child) = inner
            .iter()
            .filter(|(_, c)| rest == c.id || rest.starts_with(&format!("{}/", c.id)))
            .max_by_key(|(_, c)| (c.cell.is_some(), c.id.len()))?;
        if rest == child.id {
            return Some((self.clone(), child.id.clone()));
        }
        let sup = child.sup.clone()?;
        drop(inner);
        sup.locate(path)
    }

    fn fill(&self, node: &mut TreeNode, opts: TreeOpts, expand: bool) {
        let flags = self.shared.flags;
        node.strategy = Some(flags.strategy);
        node.max_restarts = Some(flags.max_restarts);
        node.max_seconds = Some(flags.max_seconds);
        let inner = self.shared.inner.lock();
        node.child_restarts = Some(inner.child_restarts);
        node.last_failure = inner.last_failure.clone();
        node.child_count = Some(inner.iter().filter(|(_, c)| Inner::is_listed(c)).count());
        if opts.depth == Some(0) {
            return;
        }
        let deeper = TreeOpts {
            depth: opts.depth.map(|d| d.saturating_sub(1)),
            ..opts
        };
        let dynamic = flags.strategy == Strategy::SimpleOneForOne;
        if dynamic && !expand && !opts.all_children {
            return;
        }
        let limit = if dynamic { opts.limit } else { usize::MAX };
        node.children = inner
            .iter()
            .filter(|(_, c)| Inner::is_listed(c))
            .take(limit)
            .map(|(_, c)| child_node(self.path(), c, deeper, false))
            .collect();
    }
}

fn child_node(parent: &str, child: &Child, opts: TreeOpts, expand: bool) -> TreeNode {
    let mut node = TreeNode {
        path: child.path(parent),
        id: child.id.clone(),
        kind: child.kind,
        restart: Some(child.restart),
        strategy: None,
        max_restarts: None,
        max_seconds: None,
        restarts: child.restarts,
        child_restarts: None,
        status: serde_name(&child.status),
        last_exit: child.last_exit.as_ref().map(ToString::to_string),
        last_failure: None,
        actor_id: child.cell.as_ref().map(|c| c.get_id().to_string()),
        child_count: None,
        children: Vec::new(),
    };
    if let Some(sup) = &child.sup {
        sup.fill(&mut node, opts, expand);
    }
    node
}

fn status_name(sup: &SupervisorRef) -> String {
    serde_name(&sup.status())
}

fn serde_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
