//! The per-slot start delay: deterministic, so a restart does not re-roll it, and different
//! for each plan, so plans sharing a pattern do not all start at the same second.

use chrono::{DateTime, TimeDelta, Utc};

use super::span::Span;

/// The BLAKE3 key-derivation context that makes jitter its own hash domain.
const CONTEXT: &str = "lifeboat 2026 schedule jitter v1";

/// The delay in `[0, bound)` for the slot `slot` of plan `plan`, in whole milliseconds.
///
/// It is a keyed hash (BLAKE3 in key-derivation mode over the plan name and the slot's
/// instant), not a random draw: the same plan and slot always get the same delay, on any
/// host and after any restart, so a service that comes back up does not move a slot it has
/// already scheduled, and there is no RNG state to keep. A zero `bound` gives no delay.
pub fn jitter_for(plan: &str, slot: DateTime<Utc>, bound: Span) -> TimeDelta {
    let bound_ms = u64::try_from(bound.as_delta().num_milliseconds()).unwrap_or(0);
    if bound_ms == 0 {
        return TimeDelta::zero();
    }
    let mut hasher = blake3::Hasher::new_derive_key(CONTEXT);
    hasher.update(&u64::try_from(plan.len()).unwrap_or(u64::MAX).to_le_bytes());
    hasher.update(plan.as_bytes());
    hasher.update(&slot.timestamp().to_le_bytes());
    hasher.update(&slot.timestamp_subsec_nanos().to_le_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(digest.as_bytes().get(..8).unwrap_or(&[0; 8]));
    let delay = u64::from_le_bytes(first) % bound_ms;
    TimeDelta::try_milliseconds(i64::try_from(delay).unwrap_or(0)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The delays are part of the schedule's behaviour: a change to the hashing would move
    /// every plan's start time, so it is pinned here.
    #[test]
    fn the_delay_of_a_known_plan_and_slot_is_pinned() {
        let slot = DateTime::from_timestamp(1_772_935_200, 0).unwrap_or_default(); // 2026-03-08T02:00:00Z
        let got: Vec<i64> = ["web", "db", "search"]
            .iter()
            .map(|plan| jitter_for(plan, slot, Span::from_seconds(300)).num_milliseconds())
            .collect();
        assert_eq!(got, [17_259, 23_017, 5_367]);
    }

    #[test]
    fn the_plan_name_is_length_prefixed_so_names_and_slots_do_not_run_together() {
        let slot = DateTime::from_timestamp(1_772_935_200, 0).unwrap_or_default();
        let bound = Span::from_seconds(86_400);
        assert_ne!(jitter_for("ab", slot, bound), jitter_for("abc", slot, bound));
        assert_ne!(jitter_for("web", slot, bound), jitter_for("web", slot + TimeDelta::seconds(1), bound));
    }
}
