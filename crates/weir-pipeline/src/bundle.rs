//! A pipeline together with every pipeline it runs, each validated, the files resolved.
//!
//! `pipeline` steps and `foreach` with `pipeline:` name other files. They are resolved before a
//! run starts, by whoever reads files (the CLI from disk; later the server from its store), so the
//! engine reads no file and a run cannot fail halfway through because a file changed or vanished.

use crate::plan::Plan;
use std::sync::Arc;

/// Index of a plan in a [`Bundle`]; the root is `PlanId::ROOT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PlanId(usize);

impl PlanId {
    pub const ROOT: PlanId = PlanId(0);
}

/// Plans by [`PlanId`], and for each the plans its imports (`Plan::imports`) resolve to.
#[derive(Clone, Debug)]
pub struct Bundle {
    plans: Vec<Arc<Plan>>,
    /// For each plan, (file as written, plan it names).
    links: Vec<Vec<(String, PlanId)>>,
}

/// A bundle that cannot run: an import without a plan, or plans that run each other.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("{pipeline} runs \"{file}\", which is not in the bundle")]
    Unresolved { pipeline: String, file: String },
    #[error("a link names plan {0}, but the bundle has {1} plans")]
    NoSuchPlan(usize, usize),
    #[error("pipelines run each other in a cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
}

impl Bundle {
    /// A pipeline that runs no other file.
    pub fn single(plan: Plan) -> Result<Bundle, BundleError> {
        Bundle::new(vec![Arc::new(plan)], &[])
    }

    /// Plans (the root first) and links `(from, file as written, to)` by index. Every import of
    /// every plan must be linked, and no plan may run itself through its imports.
    pub fn new(plans: Vec<Arc<Plan>>, links: &[(usize, String, usize)]) -> Result<Bundle, BundleError> {
        let mut resolved: Vec<Vec<(String, PlanId)>> = vec![Vec::new(); plans.len()];
        for (from, file, to) in links {
            for &i in [from, to] {
                if i >= plans.len() {
                    return Err(BundleError::NoSuchPlan(i, plans.len()));
                }
            }
            resolved[*from].push((file.clone(), PlanId(*to)));
        }
        for (plan, links) in plans.iter().zip(&resolved) {
            if let Some(import) = plan.imports().iter().find(|i| !links.iter().any(|(f, _)| *f == i.file)) {
                return Err(BundleError::Unresolved {
                    pipeline: plan.name().to_owned(),
                    file: import.file.clone(),
                });
            }
        }
        let bundle = Bundle { plans, links: resolved };
        bundle.check_acyclic()?;
        Ok(bundle)
    }

    pub fn root(&self) -> &Arc<Plan> {
        &self.plans[0]
    }

    /// Every plan, the root first.
    pub fn plans(&self) -> &[Arc<Plan>] {
        &self.plans
    }

    pub fn plan(&self, id: PlanId) -> &Arc<Plan> {
        &self.plans[id.0]
    }

    /// Every link `(from, file as written, to)`, by plan index: what [`Bundle::new`] was given.
    pub fn links(&self) -> Vec<(usize, &str, usize)> {
        let links = self.links.iter().enumerate();
        links.flat_map(|(from, l)| l.iter().map(move |(file, to)| (from, file.as_str(), to.0))).collect()
    }

    /// The plan that `file` (as written in plan `from`) resolves to.
    pub fn child(&self, from: PlanId, file: &str) -> Option<PlanId> {
        self.links[from.0].iter().find(|(f, _)| f == file).map(|&(_, id)| id)
    }

    fn check_acyclic(&self) -> Result<(), BundleError> {
        let edges: Vec<Vec<usize>> =
            self.links.iter().map(|links| links.iter().map(|(_, to)| to.0).collect()).collect();
        for component in crate::validate::strongly_connected(&edges) {
            let cyclic = component.len() > 1 || edges[component[0]].contains(&component[0]);
            if cyclic {
                let names = component.iter().rev().map(|&i| self.plans[i].name().to_owned()).collect();
                return Err(BundleError::Cycle(names));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Source;

    fn plan(name: &str, text: &str) -> Arc<Plan> {
        let loaded = crate::load(Source::new(format!("{name}.yaml"), text), &Kinds);
        Arc::new(loaded.plan.unwrap_or_else(|| panic!("{:?}", loaded.diagnostics)))
    }

    struct Kinds;

    impl crate::Catalog for Kinds {
        fn kind(&self, name: &str) -> Option<&crate::KindSpec> {
            (name == "pipeline").then_some(&PIPELINE)
        }

        fn kinds(&self) -> Vec<&crate::KindSpec> {
            vec![&PIPELINE]
        }
    }

    static PIPELINE: crate::KindSpec = crate::KindSpec {
        name: "pipeline",
        summary: "",
        schema: || schemars::json_schema!({}),
        programs: &[],
        nested_step: None,
        files: &["file"],
        effects: crate::Effects::Nested,
        check: crate::kind::no_rules,
    };

    #[test]
    fn every_import_must_resolve_and_cycles_are_refused() {
        let a = plan("a", "name: a\nsteps:\n  - { id: s, uses: pipeline, with: { file: b.yaml } }\n");
        let b = plan("b", "name: b\nsteps:\n  - { id: s, uses: pipeline, with: { file: a.yaml } }\n");
        let err = Bundle::new(vec![a.clone(), b.clone()], &[(0, "b.yaml".into(), 1)]).unwrap_err();
        assert_eq!(err, BundleError::Unresolved { pipeline: "b".into(), file: "a.yaml".into() });
        let links = [(0, "b.yaml".into(), 1), (1, "a.yaml".into(), 0)];
        let err = Bundle::new(vec![a.clone(), b], &links).unwrap_err();
        assert!(matches!(err, BundleError::Cycle(_)), "{err}");
        let bundle = Bundle::new(vec![a.clone(), a], &[(0, "b.yaml".into(), 1), (1, "b.yaml".into(), 1)]);
        assert!(matches!(bundle, Err(BundleError::Cycle(_))), "a plan that runs itself");
    }
}
