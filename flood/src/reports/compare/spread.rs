//! A measured value as the report states it: the median of repeated runs,
//! with the lowest and highest run beside it. A comparison is called only
//! when the spreads do not overlap and the medians differ by 10 % or more, so that two runs of the report on the
//! same machine cannot rank the same pair both ways unless one run's
//! spreads already miss the other's.

/// The smallest ratio of medians a sentence ranks (10 %); below it two
/// results are level whatever their ranges.
pub const MEANINGFUL: f64 = 1.1;

/// The median of some runs, with their range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The middle run (the mean of the two middle ones for an even count).
    pub median: f64,
    /// The lowest run.
    pub min: f64,
    /// The highest run.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; all zero for none.
    pub fn of(values: &[f64]) -> Spread {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let Some((&min, &max)) = sorted.first().zip(sorted.last()) else {
            return Spread::exact(0.0);
        };
        let middle = sorted.len() / 2;
        let median = if sorted.len() % 2 == 1 {
            sorted[middle]
        } else {
            (sorted[middle - 1] + sorted[middle]) / 2.0
        };
        Spread { median, min, max }
    }

    /// One value known exactly (no spread).
    pub fn exact(value: f64) -> Spread {
        Spread {
            median: value,
            min: value,
            max: value,
        }
    }

    /// A spread given by its parts (for tests and fixed examples).
    pub fn new(median: f64, min: f64, max: f64) -> Spread {
        Spread { median, min, max }
    }

    /// Whether this is higher than `other` beyond both spreads and by
    /// enough to teach: this value's lowest run is above the other's
    /// highest, and its median at least [`MEANINGFUL`] times the other's.
    /// Short runs on a shared machine can keep their ranges apart by a few
    /// per cent one run and not the next; a sentence calling "1.0×" a win
    /// would then flip between two runs of the same report.
    pub fn above(&self, other: &Spread) -> bool {
        self.min > other.max && self.median >= MEANINGFUL * other.median
    }

    /// Whether neither is above the other beyond the spreads.
    pub fn level_with(&self, other: &Spread) -> bool {
        !self.above(other) && !other.above(self)
    }

    /// This median over `other`'s ("1.4×").
    pub fn times(&self, other: &Spread) -> f64 {
        self.median / other.median.max(1e-9)
    }

    /// `value` written with `shown` (a number formatter), and its range:
    /// "12.3k (11.9k–12.8k)".
    pub fn show(&self, shown: impl Fn(f64) -> String) -> String {
        if self.min == self.max {
            shown(self.median)
        } else {
            format!(
                "{} ({}–{})",
                shown(self.median),
                shown(self.min),
                shown(self.max)
            )
        }
    }
}

pub use crate::reports::chart::human;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_and_range_of_runs() {
        let s = Spread::of(&[3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Spread::of(&[1.0, 4.0]).median, 2.5);
        assert_eq!(Spread::of(&[]).median, 0.0);
    }

    #[test]
    fn above_only_beyond_both_spreads() {
        let a = Spread::new(10.0, 9.0, 11.0);
        assert!(a.above(&Spread::new(8.0, 7.0, 8.9)));
        assert!(a.level_with(&Spread::new(8.0, 7.0, 9.5)));
        // Apart, but by 5 %: not a ranking.
        let close = Spread::new(10.5, 10.4, 10.6);
        assert!(close.level_with(&Spread::new(10.0, 9.9, 10.1)));
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(human(136_330.0), "136k");
        assert_eq!(human(1_234.0), "1.2k");
        assert_eq!(human(2_500_000.0), "2.5M");
        assert_eq!(human(19.4), "19");
        assert_eq!(human(0.25), "0.25");
    }
}
