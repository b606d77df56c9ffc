//! The hitting-set step of lineage-driven fault injection, as a SAT problem.
//!
//! A run can only lose its outcome if the faults cut every way the outcome has been seen to
//! come about: every support (the faults that could cut one good run's lineage) must contain
//! an injected fault. Over one boolean variable per fault, each support is a clause (one of
//! its faults is chosen), each fault set already tried is excluded by a clause (some choice
//! differs from it), and two cardinality bounds, encoded with a totalizer, keep the set within
//! the campaign's limits: at most `max` faults, at most `max_crashes` of them crashes. The
//! solver (BatSat, through RustSAT) is asked for a set of size at most 1, 2, … up to `max`,
//! under assumptions on one incremental formula, so the first size it answers is the
//! smallest. Among the sets of that size it then takes the first in a fixed order: faults
//! are ordered omissions before crashes, then by node names and message number (so earlier
//! messages first), and each fault in that order is kept in the set if some answer still
//! has it (one more solver call each), which gives the set that comes first when sets are
//! compared as sorted lists.

use std::collections::BTreeSet;

use rustsat::encodings::card::{BoundUpper, Totalizer};
use rustsat::instances::BasicVarManager;
use rustsat::solvers::{Solve, SolveIncremental, SolverResult};
use rustsat::types::{Clause, Lit, Var};
use rustsat_batsat::BasicSolver;

use crate::lineage::Fault;

/// The formula over one campaign state: a variable per fault named by a support, the
/// support and tried-set clauses, the crash bound, and the size bound (to be enforced with
/// assumptions).
struct Formula<'f> {
    faults: Vec<&'f Fault>,
    solver: BasicSolver,
    size: Totalizer,
}

impl<'f> Formula<'f> {
    /// None when a support is empty (nothing can hit it) or the solver fails.
    fn new(
        supports: &'f [BTreeSet<Fault>],
        max: usize,
        max_crashes: usize,
        tried: &BTreeSet<BTreeSet<Fault>>,
    ) -> Option<Formula<'f>> {
        if supports.is_empty() || supports.iter().any(BTreeSet::is_empty) || max == 0 {
            return None;
        }
        // one variable per fault, in the order of preference
        let faults: Vec<&Fault> = supports
            .iter()
            .flatten()
            .collect::<BTreeSet<&Fault>>()
            .into_iter()
            .collect();
        let mut f = Formula {
            faults,
            solver: BasicSolver::default(),
            size: Totalizer::default(),
        };
        let mut vars = BasicVarManager::from_next_free(Var::new(f.faults.len() as u32));
        for s in supports {
            let c: Clause = s.iter().filter_map(|x| f.lit(x)).collect();
            f.solver.add_clause(c).ok()?;
        }
        for t in tried {
            // a set with a fault no support names is never an answer: nothing to exclude
            let Some(chosen) = t.iter().map(|x| f.lit(x)).collect::<Option<Vec<Lit>>>() else {
                continue;
            };
            f.exclude(&chosen)?;
        }
        let crashes: Vec<Lit> = f
            .faults
            .iter()
            .enumerate()
            .filter(|(_, x)| x.is_crash())
            .map(|(i, _)| Lit::positive(i as u32))
            .collect();
        if crashes.len() > max_crashes {
            let mut bound: Totalizer = crashes.into_iter().collect();
            bound
                .encode_ub(max_crashes..=max_crashes, &mut f.solver, &mut vars)
                .ok()?;
            for unit in bound.enforce_ub(max_crashes).ok()? {
                f.solver.add_clause(Clause::from_iter([unit])).ok()?;
            }
        }
        f.size = (0..f.faults.len() as u32).map(Lit::positive).collect();
        f.size.encode_ub(1..=max, &mut f.solver, &mut vars).ok()?;
        Some(f)
    }

    /// The variable of fault `x` (`faults` is sorted: it came out of a BTreeSet).
    fn lit(&self, x: &Fault) -> Option<Lit> {
        self.faults
            .binary_search(&x)
            .ok()
            .map(|i| Lit::positive(i as u32))
    }

    /// Adds the clause "some choice differs from exactly the set `chosen`".
    fn exclude(&mut self, chosen: &[Lit]) -> Option<()> {
        let differs: Clause = (0..self.faults.len() as u32)
            .map(Lit::positive)
            .map(|l| if chosen.contains(&l) { !l } else { l })
            .collect();
        self.solver.add_clause(differs).ok()
    }

    fn sat(&mut self, assumptions: &[Lit]) -> Option<bool> {
        match self.solver.solve_assumps(assumptions).ok()? {
            SolverResult::Sat => Some(true),
            SolverResult::Unsat => Some(false),
            SolverResult::Interrupted => None,
        }
    }
}

/// A smallest set of faults (at most `max` faults, at most `max_crashes` crashes) that
/// contains a fault of every support and is none of the sets in `tried`. None when there is
/// none within the bounds, or when a support is empty (an outcome with nothing to cut: no
/// fault of ours can change it).
///
/// The answer depends only on the arguments (the solver is deterministic), so every shard of
/// a campaign computes the same sequence of candidates.
pub fn next_hitting_set(
    supports: &[BTreeSet<Fault>],
    max: usize,
    max_crashes: usize,
    tried: &BTreeSet<BTreeSet<Fault>>,
) -> Option<BTreeSet<Fault>> {
    let mut f = Formula::new(supports, max, max_crashes, tried)?;
    for k in 1..=max.min(f.faults.len()) {
        let mut assumptions = f.size.enforce_ub(k).ok()?;
        if !f.sat(&assumptions)? {
            continue;
        }
        // every answer has k faults (none has fewer); keep each fault, in order, if an
        // answer still has it
        let mut set = BTreeSet::new();
        for i in 0..f.faults.len() {
            if set.len() == k {
                break;
            }
            let x = Lit::positive(i as u32);
            assumptions.push(x);
            if f.sat(&assumptions)? {
                set.insert(f.faults[i].clone());
            } else {
                assumptions.pop();
                assumptions.push(!x);
            }
        }
        return Some(set);
    }
    None
}

/// How many fault sets are still candidates: within the bounds, hitting every support, not
/// tried; counted up to `cap` (the second value says whether the count reached it). What a
/// campaign whose budget ran out still had to try to certify its bound.
pub fn candidates_left(
    supports: &[BTreeSet<Fault>],
    max: usize,
    max_crashes: usize,
    tried: &BTreeSet<BTreeSet<Fault>>,
    cap: usize,
) -> (usize, bool) {
    let Some(mut f) = Formula::new(supports, max, max_crashes, tried) else {
        return (0, false);
    };
    let Ok(within) = f.size.enforce_ub(max) else {
        return (0, false);
    };
    let mut n = 0;
    while n < cap {
        if f.sat(&within) != Some(true) {
            return (n, false);
        }
        let chosen: Vec<Lit> = (0..f.faults.len() as u32)
            .map(Lit::positive)
            .filter(|&l| f.solver.lit_val(l).ok() == Some(rustsat::types::TernaryVal::True))
            .collect();
        n += 1;
        if f.exclude(&chosen).is_none() {
            return (n, false);
        }
    }
    (n, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineage::fixtures::{crash, drop};

    /// Every set of at most `max` faults of `universe` (brute force, for checking the solver).
    fn all_sets(universe: &[Fault], max: usize) -> Vec<BTreeSet<Fault>> {
        let mut out = vec![BTreeSet::new()];
        for f in universe {
            let more: Vec<_> = out
                .iter()
                .filter(|s| s.len() < max)
                .map(|s| {
                    let mut s = s.clone();
                    s.insert(f.clone());
                    s
                })
                .collect();
            out.extend(more);
        }
        out
    }

    #[test]
    fn hitting_sets_grow_only_when_needed_and_skip_tried_ones() {
        let (a, b, c) = (drop("b", "r1", 1), drop("b", "r2", 1), drop("b", "r1", 2));
        let s1: BTreeSet<Fault> = [a.clone(), b.clone()].into();
        let s2: BTreeSet<Fault> = [c.clone(), b.clone()].into();
        let mut tried = BTreeSet::new();
        let h = next_hitting_set(&[s1.clone(), s2.clone()], 2, 0, &tried).expect("one");
        assert_eq!(h, [b.clone()].into(), "the one fault in both supports");
        tried.insert(h);
        // then the pairs that hit both: {a, c}, and the supersets of the tried {b}
        let pairs: BTreeSet<BTreeSet<Fault>> = [
            [a.clone(), c.clone()].into(),
            [a.clone(), b.clone()].into(),
            [b.clone(), c.clone()].into(),
        ]
        .into();
        let mut seen = BTreeSet::new();
        for _ in 0..3 {
            let h = next_hitting_set(&[s1.clone(), s2.clone()], 2, 0, &tried).expect("a pair");
            assert!(pairs.contains(&h), "{h:?}");
            assert!(seen.insert(h.clone()), "{h:?} twice");
            tried.insert(h);
        }
        assert_eq!(
            next_hitting_set(&[s1.clone(), s2.clone()], 2, 0, &tried),
            None
        );
        assert_eq!(
            next_hitting_set(&[s1.clone(), s2.clone()], 1, 0, &tried),
            None
        );
        assert_eq!(next_hitting_set(&[s1, BTreeSet::new()], 2, 0, &tried), None);
    }

    #[test]
    fn crashes_count_against_their_own_bound() {
        let c = crash("b", "r1", 1);
        let s: BTreeSet<Fault> = [c.clone()].into();
        let tried = BTreeSet::new();
        assert_eq!(
            next_hitting_set(std::slice::from_ref(&s), 2, 0, &tried),
            None
        );
        assert_eq!(next_hitting_set(&[s], 2, 1, &tried), Some([c].into()));
        // two supports each cut only by a crash: two crashes, or none within one
        let (c1, c2) = (crash("a", "b", 1), crash("b", "a", 1));
        let sup = [[c1.clone()].into(), [c2.clone()].into()];
        assert_eq!(next_hitting_set(&sup, 2, 1, &tried), None);
        assert_eq!(next_hitting_set(&sup, 2, 2, &tried), Some([c1, c2].into()));
    }

    /// Against brute force on many small instances: whatever the solver answers is a hitting
    /// set within the bounds, not tried, of the smallest size there is, and the first such in
    /// order; and it answers whenever brute force finds one. The count of candidates left is
    /// brute force's too.
    #[test]
    fn the_answer_is_the_first_smallest_untried_hitting_set() {
        let universe = [
            drop("a", "b", 1),
            drop("a", "b", 2),
            drop("b", "c", 1),
            crash("a", "b", 1),
            crash("b", "c", 1),
            drop("c", "a", 1),
        ];
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        for _ in 0..300 {
            let supports: Vec<BTreeSet<Fault>> = (0..1 + next() % 4)
                .map(|_| {
                    (0..1 + next() % 3)
                        .map(|_| universe[next() % universe.len()].clone())
                        .collect()
                })
                .collect();
            let (max, max_crashes) = (1 + next() % 3, next() % 3);
            let ok = |s: &BTreeSet<Fault>| {
                supports.iter().all(|sup| !sup.is_disjoint(s))
                    && s.iter().filter(|f| f.is_crash()).count() <= max_crashes
                    && !s.is_empty()
            };
            // a fault no support names cuts nothing seen: only the supports' faults are
            // candidates
            let named: Vec<Fault> = universe
                .iter()
                .filter(|f| supports.iter().any(|s| s.contains(*f)))
                .cloned()
                .collect();
            let mut tried = BTreeSet::new();
            for s in all_sets(&named, max) {
                if ok(&s) && next() % 3 == 0 {
                    tried.insert(s);
                }
            }
            let best = all_sets(&named, max)
                .into_iter()
                .filter(|s| ok(s) && !tried.contains(s))
                .map(|s| s.len())
                .min();
            let left = all_sets(&named, max)
                .into_iter()
                .filter(|s| ok(s) && !tried.contains(s))
                .count();
            assert_eq!(
                candidates_left(&supports, max, max_crashes, &tried, 1000),
                (left, false),
                "{supports:?}"
            );
            let got = next_hitting_set(&supports, max, max_crashes, &tried);
            // the first smallest one, comparing sets as sorted lists
            let first = all_sets(&named, max)
                .into_iter()
                .filter(|s| ok(s) && !tried.contains(s) && Some(s.len()) == best)
                .min_by(|a, b| a.iter().cmp(b.iter()));
            match (&got, best) {
                (Some(h), Some(n)) => {
                    assert!(ok(h) && !tried.contains(h), "{supports:?} → {h:?}");
                    assert_eq!(h.len(), n, "{supports:?} → {h:?}");
                    assert_eq!(Some(h), first.as_ref(), "{supports:?}");
                }
                (None, None) => {}
                _ => panic!("{supports:?} max {max} crashes {max_crashes}: {got:?} vs {best:?}"),
            }
        }
    }
}
