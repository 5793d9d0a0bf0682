//! The text `lifeboat dr` prints: an assessment, a drill or recovery report, a recovery plan.

use lifeboat_ops::dr::assess::{AssessReport, DrStatus};
use lifeboat_ops::dr::recover::RecoveryPlan;
use lifeboat_ops::dr::report::human_seconds;
use lifeboat_ops::dr::{DrillReport, ReportKind};

use crate::render::{escape, human_bytes};

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn seconds(s: Option<i64>) -> String {
    s.map_or_else(|| "none".to_owned(), |s| human_seconds(s as f64))
}

fn met(value: Option<bool>) -> &'static str {
    match value {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "no objective",
    }
}

fn status(status: DrStatus) -> &'static str {
    match status {
        DrStatus::Healthy => "ok",
        DrStatus::Degraded => "degraded",
        DrStatus::AtRisk => "AT RISK",
    }
}

/// Prints an assessment.
pub fn print_assessment(report: &AssessReport) {
    println!("status: {} (assessed {})", report.status.as_str(), time(report.generated_at));
    if !report.reasons.is_empty() {
        println!("\nreasons:");
        for reason in &report.reasons {
            println!("  - {}", escape(reason));
        }
    }
    if !report.recommendations.is_empty() {
        println!("\nrecommendations:");
        for advice in &report.recommendations {
            println!("  - {}", escape(advice));
        }
    }
    if !report.sources.is_empty() {
        println!("\nsources:");
        for s in &report.sources {
            let found = match (&s.error, &s.version) {
                (Some(error), _) => format!("unreachable: {error}"),
                (None, Some(version)) => format!("reachable, version {version}"),
                (None, None) => "reachable".to_owned(),
            };
            let size = s.size_bytes.map(|b| format!(", {}", human_bytes(b))).unwrap_or_default();
            let keys = s.keys.map(|k| format!(", {k} keys")).unwrap_or_default();
            println!(
                "  [{}] plan {} ({} {}): {}{size}{keys}",
                status(s.status),
                escape(&s.plan),
                s.kind,
                escape(&s.target),
                escape(&found)
            );
        }
    }
    if !report.plans.is_empty() {
        println!("\nplans:");
        for p in &report.plans {
            let newest = match (&p.newest_backup, p.newest_backup_age_seconds) {
                (Some(id), Some(age)) => format!("newest {} ({} old)", escape(id), human_seconds(age as f64)),
                _ if p.backups.is_none() => "backups unknown".to_owned(),
                _ => "no backup".to_owned(),
            };
            let verify = match (p.last_verify, p.last_verify_ok) {
                (Some(at), Some(ok)) => format!("{} {}", if ok { "verified" } else { "verify FAILED" }, time(at)),
                _ => "no verify on record".to_owned(),
            };
            let drill = match &p.last_drill {
                Some(d) => format!(
                    "drill {} {}, RTO {}",
                    if d.passed { "passed" } else { "FAILED" },
                    time(d.started),
                    human_seconds(d.rto_seconds)
                ),
                None => "no drill on record".to_owned(),
            };
            println!(
                "  [{}] plan {}: {newest}, RPO {} ({}); RTO {}; {verify}; {drill}",
                status(p.status),
                escape(&p.plan),
                seconds(p.rpo_objective_seconds),
                met(p.rpo_met),
                seconds(p.rto_objective_seconds),
            );
            for c in &p.copies {
                let held = match c.has_newest {
                    Some(true) => "holds the newest backup",
                    Some(false) => "lacks the newest backup",
                    None => "unknown",
                };
                println!("      copy {}: {held}", escape(&c.repository));
            }
        }
    }
    if !report.repositories.is_empty() {
        println!("\nrepositories:");
        for r in &report.repositories {
            let mut facts = Vec::new();
            match &r.error {
                Some(error) if !r.reachable => facts.push(format!("unreachable: {error}")),
                Some(error) => facts.push(format!("reachable ({error})")),
                None => facts.push("reachable".to_owned()),
            }
            if let Some(n) = r.backups {
                facts.push(format!("{n} backups"));
            }
            if let Some(n) = r.locks {
                facts.push(format!("{n} locks ({} stale)", r.stale_locks.unwrap_or(0)));
            }
            if let (Some(free), Some(used)) = (r.free_bytes, r.used_percent) {
                facts.push(format!("{} free ({used:.1}% used)", human_bytes(free)));
            }
            println!(
                "  [{}] {} ({}): {}",
                status(r.status),
                escape(&r.repository),
                r.plans.join(", "),
                escape(&facts.join(", "))
            );
        }
    }
    if !report.clusters.is_empty() {
        println!("\nclusters:");
        for c in &report.clusters {
            let state = match (&c.error, &c.health) {
                (Some(error), None) => format!("unreachable: {error}"),
                (_, Some(health)) => format!("{health}, version {}", c.version.as_deref().unwrap_or("?")),
                (None, None) => "reachable".to_owned(),
            };
            println!("  [{}] {} ({}): {}", status(c.status), escape(&c.url), c.plans.join(", "), escape(&state));
            for r in &c.repositories {
                let verdict = match &r.error {
                    None => format!("verified on {} node(s)", r.nodes.len()),
                    Some(e) => format!("verify FAILED: {e}"),
                };
                println!("      snapshot repository {}: {}", escape(&r.name), escape(&verdict));
            }
        }
    }
}

/// Prints a drill's or a recovery's report.
pub fn print_report(report: &DrillReport) {
    let what = match report.kind {
        ReportKind::Drill => "drill",
        ReportKind::Recovery => "recovery",
    };
    let verdict = match (report.passed, report.objectives_met) {
        (false, _) => "FAILED",
        (true, Some(false)) => "passed, objective MISSED",
        (true, _) => "passed",
    };
    println!("{what} {} of {}: {verdict}", report.id, escape(&report.subject.describe()));
    if let Some(failure) = &report.failure {
        println!("failure: {}", escape(failure));
    }
    let rto = &report.rto;
    println!(
        "RTO: measured {}, objective {}: {}",
        human_seconds(rto.seconds),
        seconds(rto.objective_seconds),
        met(rto.met)
    );
    let rpo = &report.rpo;
    let backup = match (&rpo.backup, rpo.backup_time) {
        (Some(id), Some(at)) => format!(" (backup {} of {})", escape(id), time(at)),
        (Some(id), None) => format!(" (backup {})", escape(id)),
        _ => String::new(),
    };
    println!(
        "RPO: measured backup age {}{backup}, largest gap {} in {} days, objective {}: {}",
        seconds(rpo.backup_age_seconds),
        seconds(rpo.largest_gap_seconds),
        rpo.window_days,
        seconds(rpo.objective_seconds),
        met(rpo.met)
    );
    println!("started {}, finished {} on {}", time(report.started), time(report.finished), escape(&report.host));
    println!("steps:");
    for step in &report.steps {
        let bytes = step.bytes.map(|b| format!(", {}", human_bytes(b))).unwrap_or_default();
        println!(
            "  {}. {} {}: {} ({}{bytes})",
            step.index,
            step.action,
            step.outcome.as_str(),
            escape(&step.description),
            human_seconds(step.seconds)
        );
        if let Some(target) = &step.target {
            println!("       target: {}", escape(target));
        }
        for line in &step.detail {
            println!("       - {}", escape(line));
        }
    }
    if !report.scratch.is_empty() {
        println!("cleanup:");
        for s in &report.scratch {
            let how = match (&s.error, s.cleaned) {
                (_, true) => "removed".to_owned(),
                (Some(e), false) => format!("LEFT BEHIND: {e}"),
                (None, false) => "LEFT BEHIND".to_owned(),
            };
            println!("  {} {}: {}", s.kind, escape(&s.name), escape(&how));
        }
    }
}

/// Prints what a recovery would do.
pub fn print_plan(plan: &RecoveryPlan) {
    println!("scenario {}: {} step(s)", escape(&plan.scenario), plan.steps.len());
    if let Some(description) = &plan.description {
        println!("  {}", escape(description));
    }
    for step in &plan.steps {
        println!("  {}. {}: {}", step.index, step.action, escape(&step.description));
        if let Some(backup) = &step.backup {
            let at = step.backup_time.map(|t| format!(" of {}", time(t))).unwrap_or_default();
            let why = step.why.as_deref().map(|w| format!(" ({})", escape(w))).unwrap_or_default();
            println!("       backup: {}{at}{why}", escape(backup));
        }
        if let Some(size) = step.size_bytes {
            println!("       size: {}", human_bytes(size));
        }
        if step.action == "restore" {
            let last = step.last_drill_seconds.map_or_else(|| "no drill on record".to_owned(), human_seconds);
            println!("       last drill restored it in: {last}");
        }
        if let Some(overwrites) = &step.overwrites {
            println!("       overwrites: {}", escape(overwrites));
        }
    }
}
