//! Which steps have certainly finished when a step starts: the results its expressions may see.
//!
//! A step starts once its needs have finished, so its needs and, transitively, theirs have
//! finished. A handler starts when a step that names it in `on_error` failed: that step and its
//! own ancestors have finished. With several such steps any one may be the one that failed, so a
//! handler sees only what all of them see. A handler that no failure triggered is skipped once
//! nothing else can run, which says nothing about the steps that name it: a step that needs a
//! handler sees the handler's result but not, through it, anything else.
//!
//! Both the validator (is this read allowed?) and the engine (which results go into a step's
//! context?) use these rules, so they cannot disagree. Nothing here recurses over needs.

/// The edges of a pipeline's graph, by step index.
pub(crate) trait Graph {
    fn needs(&self, step: usize) -> &[usize];
    /// The steps whose `on_error` names this one (empty unless it is a handler).
    fn handled(&self, step: usize) -> &[usize];
    fn len(&self) -> usize;
}

/// Needs and handlers of every step as plain lists, for a graph that is not a plan yet.
#[derive(Debug, Default)]
pub(crate) struct Links {
    pub(crate) needs: Vec<Vec<usize>>,
    /// For each step, the steps whose `on_error` names it.
    pub(crate) handled: Vec<Vec<usize>>,
}

impl Graph for Links {
    fn needs(&self, step: usize) -> &[usize] {
        &self.needs[step]
    }

    fn handled(&self, step: usize) -> &[usize] {
        &self.handled[step]
    }

    fn len(&self) -> usize {
        self.needs.len()
    }
}

/// How many handlers of handlers are followed before the rest counts as unseen (handlers
/// can name each other in a loop).
const MAX_HANDLER_DEPTH: u32 = 16;

/// Whether `target` has certainly finished when `from` starts.
pub(crate) fn sees<G: Graph + ?Sized>(graph: &G, from: usize, target: usize) -> bool {
    sees_at(graph, from, target, 0)
}

fn sees_at<G: Graph + ?Sized>(graph: &G, from: usize, target: usize, depth: u32) -> bool {
    let handled = graph.handled(from);
    if !handled.is_empty() {
        return depth < MAX_HANDLER_DEPTH
            && handled.iter().all(|&n| n == target || sees_at(graph, n, target, depth + 1));
    }
    let mut seen = vec![false; graph.len()];
    let mut todo = vec![from];
    while let Some(i) = todo.pop() {
        for &p in graph.needs(i) {
            if p == target {
                return true;
            }
            // A need that is a handler says nothing about the steps before it.
            if !seen[p] && graph.handled(p).is_empty() {
                seen[p] = true;
                todo.push(p);
            }
        }
    }
    false
}

/// Every step that has certainly finished when `from` starts, in index order.
pub(crate) fn visible<G: Graph + ?Sized>(graph: &G, from: usize) -> Vec<usize> {
    let mut set = vec![false; graph.len()];
    mark_visible(graph, from, &mut set, 0);
    (0..set.len()).filter(|&i| set[i]).collect()
}

fn mark_visible<G: Graph + ?Sized>(graph: &G, from: usize, set: &mut [bool], depth: u32) {
    let handled = graph.handled(from);
    if !handled.is_empty() {
        if depth >= MAX_HANDLER_DEPTH {
            return;
        }
        // What every step that can trigger the handler sees, and those steps themselves.
        let mut common: Option<Vec<bool>> = None;
        for &n in handled {
            let mut one = vec![false; set.len()];
            one[n] = true;
            mark_visible(graph, n, &mut one, depth + 1);
            common = Some(match common {
                None => one,
                Some(c) => c.iter().zip(&one).map(|(a, b)| *a && *b).collect(),
            });
        }
        for (s, c) in set.iter_mut().zip(common.unwrap_or_default()) {
            *s |= c;
        }
        return;
    }
    let mut todo = vec![from];
    while let Some(i) = todo.pop() {
        for &p in graph.needs(i) {
            if !set[p] {
                set[p] = true;
                if graph.handled(p).is_empty() {
                    todo.push(p);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handlers_see_what_every_step_that_triggers_them_sees() {
        // 0 <- 1 (on_error: 3), 0 <- 2 (on_error: 3); 4 needs the handler 3.
        let g = Links {
            needs: vec![vec![], vec![0], vec![0], vec![], vec![3]],
            handled: vec![vec![], vec![], vec![], vec![1, 2], vec![]],
        };
        assert_eq!(visible(&g, 3), [0]);
        assert!(sees(&g, 3, 0) && !sees(&g, 3, 1) && !sees(&g, 3, 2));
        assert_eq!(visible(&g, 4), [3]);
        assert!(sees(&g, 4, 3) && !sees(&g, 4, 0));
        assert_eq!(visible(&g, 1), [0]);
    }

    #[test]
    fn a_single_trigger_and_its_ancestors_are_seen() {
        let g = Links { needs: vec![vec![], vec![0], vec![]], handled: vec![vec![], vec![], vec![1]] };
        assert_eq!(visible(&g, 2), [0, 1]);
        assert!(sees(&g, 2, 1) && sees(&g, 2, 0));
    }

    #[test]
    fn handlers_naming_each_other_end() {
        // Neither can ever start (each waits for the other to fail); the answers only must come.
        let g = Links { needs: vec![vec![], vec![]], handled: vec![vec![1], vec![0]] };
        assert!(sees(&g, 0, 1));
        assert!(visible(&g, 0).contains(&1));
    }
}
