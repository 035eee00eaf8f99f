//! How much of a backup an upload holds in memory: part sizes that grow so any stream fits
//! S3's 10,000 parts, and the byte budget that bounds the parts in flight.

/// Parts uploaded concurrently at most (with the default 8 MiB parts).
pub(crate) const MAX_IN_FLIGHT: usize = 4;
/// Bytes of parts in flight at most, once parts have grown: bigger parts mean fewer of them
/// in flight, so a very large backup does not multiply its memory by `MAX_IN_FLIGHT`.
pub(crate) const IN_FLIGHT_BYTES: usize = 32 * 1024 * 1024;

/// How many parts of `part_size` bytes may be in flight: at least one, at most
/// [`MAX_IN_FLIGHT`], and no more than [`IN_FLIGHT_BYTES`] together.
pub(crate) fn parts_in_flight(part_size: usize) -> usize {
    (IN_FLIGHT_BYTES / part_size.max(1)).clamp(1, MAX_IN_FLIGHT)
}

/// Bytes of parts in flight across every upload of the process, beyond each upload's first
/// part: a backup to three S3 drives, fed the same stream, then holds about what one drive
/// alone may (its first part plus this), not three times as much. The first part in flight
/// is each upload's own, so one drive's big parts never stall another drive.
pub(crate) const SHARED_IN_FLIGHT_BYTES: usize = 24 * 1024 * 1024;

pub(super) static PROCESS_BUDGET: InFlightBudget =
    InFlightBudget::new(SHARED_IN_FLIGHT_BYTES as u32);

/// A byte budget that parts take from before they are sent and give back once their request
/// has ended. A part larger than the whole budget takes all of it, so every upload makes
/// progress; permits are held only by parts on their way to the store, which end by
/// themselves (answered, failed or timed out), so waiting for the budget cannot deadlock.
pub(crate) struct InFlightBudget {
    free: tokio::sync::Semaphore,
    whole: u32,
}

impl InFlightBudget {
    /// A budget of `bytes` (at most 4 GiB).
    pub(crate) const fn new(bytes: u32) -> Self {
        Self {
            free: tokio::sync::Semaphore::const_new(bytes as usize),
            whole: bytes,
        }
    }

    /// Waits until `len` bytes (at most the whole budget) are free and takes them.
    pub(crate) async fn reserve(&self, len: usize) -> tokio::sync::SemaphorePermit<'_> {
        let want = u32::try_from(len).unwrap_or(u32::MAX).clamp(1, self.whole);
        self.free
            .acquire_many(want)
            .await
            .expect("the budget's semaphore is never closed")
    }
}
/// S3's smallest part (all but the last).
pub(crate) const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// S3's largest part.
const MAX_PART_SIZE: usize = 5 * 1024 * 1024 * 1024;
/// Parts per size step: the part size doubles every this many parts, so 10,000 parts starting
/// at 5 MiB reach well over S3's 5 TiB object limit.
const PARTS_PER_STEP: u32 = 900;

/// The size of part number `part` (1-based) when the first part is `base` bytes.
pub(crate) fn part_size(base: usize, part: u32) -> usize {
    let doublings = (part.saturating_sub(1) / PARTS_PER_STEP).min(12);
    base.max(MIN_PART_SIZE)
        .saturating_mul(1 << doublings)
        .min(MAX_PART_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_grow_to_reach_five_tebibytes() {
        const MIB: usize = 1024 * 1024;
        assert_eq!(part_size(8 * MIB, 1), 8 * MIB);
        assert_eq!(part_size(8 * MIB, 900), 8 * MIB);
        assert_eq!(part_size(8 * MIB, 901), 16 * MIB);
        assert_eq!(part_size(MIB, 1), 5 * MIB, "never below S3's minimum");
        let total: u128 = (1..=10_000).map(|n| part_size(5 * MIB, n) as u128).sum();
        assert!(total >= 5 * 1024 * 1024 * MIB as u128, "{total}");
        assert!(part_size(5 * MIB, 10_000) <= MAX_PART_SIZE);
    }

    #[test]
    fn bigger_parts_mean_fewer_in_flight() {
        const MIB: usize = 1024 * 1024;
        assert_eq!(parts_in_flight(5 * MIB), 4);
        assert_eq!(parts_in_flight(8 * MIB), 4);
        assert_eq!(parts_in_flight(16 * MIB), 2);
        assert_eq!(parts_in_flight(64 * MIB), 1);
        assert_eq!(parts_in_flight(5 * 1024 * MIB), 1);
    }

    #[tokio::test]
    async fn the_budget_holds_back_parts_until_others_end() {
        use std::time::Duration;
        let budget = InFlightBudget::new(10);
        let first = budget.reserve(6).await;
        let second = budget.reserve(4).await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), budget.reserve(1)).await;
        assert!(
            waiting.is_err(),
            "the budget is spent: a third part must wait"
        );
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(5), budget.reserve(6)).await;
        assert!(third.is_ok(), "6 bytes were given back");
        drop(second);
        drop(third);
        // A part bigger than the whole budget takes all of it rather than waiting forever.
        let whole = tokio::time::timeout(Duration::from_secs(5), budget.reserve(1 << 20)).await;
        assert_eq!(whole.map(|p| p.num_permits()).ok(), Some(10));
    }
}
