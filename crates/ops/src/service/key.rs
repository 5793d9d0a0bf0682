//! [`ScheduleKey`]: one schedule of one plan, what the scheduler keeps a cursor for and a
//! job remembers it runs for.

use crate::state::JobKind;

/// What a job does, in more detail than its [`JobKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Work {
    /// A backup, its retention, and the copies that follow each backup.
    Backup,
    /// Copies of the plan's backups to one copy-to destination (`None`: each of them).
    Copy(Option<usize>),
    /// A check of the plan's backups.
    Verify {
        /// Decrypt and compare (else sizes and digests as stored).
        deep: bool,
    },
    /// Removal of unreferenced data from the plan's repository.
    Prune,
    /// A restore drill of the plan's newest backup into scratch targets (`crate::dr::drill`).
    Drill,
}

impl Work {
    /// True for work that watches its cancellation token and cleans up before it returns
    /// (a drill's scratch targets), rather than being dropped when cancelled.
    pub fn stops_itself(self) -> bool {
        matches!(self, Work::Drill)
    }

    pub fn kind(self) -> JobKind {
        match self {
            Work::Backup => JobKind::Backup,
            Work::Copy(_) => JobKind::Copy,
            Work::Verify { .. } => JobKind::Verify,
            Work::Prune => JobKind::Prune,
            Work::Drill => JobKind::Drill,
        }
    }
}

/// One schedule of one plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ScheduleKey {
    pub plan: String,
    pub work: Work,
}

impl ScheduleKey {
    /// The name of its row in the state's plan table: the plan's own for backups.
    pub fn state_name(&self) -> String {
        match self.work {
            Work::Backup => self.plan.clone(),
            Work::Copy(i) => format!("{}#copy-to[{}]", self.plan, i.unwrap_or(0)),
            Work::Verify { deep: false } => format!("{}#verify.quick", self.plan),
            Work::Verify { deep: true } => format!("{}#verify.deep", self.plan),
            Work::Prune => format!("{}#prune", self.plan),
            Work::Drill => format!("{}#drill", self.plan),
        }
    }
}
