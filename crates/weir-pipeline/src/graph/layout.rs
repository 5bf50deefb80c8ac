//! A layered (Sugiyama-style) layout: the geometry behind [`super::svg`], knowing nothing of
//! text or SVG. Node widths come in; centres and edge routes come out.
//!
//! The phases, each linear or close to it in the size of the graph so that pipelines of
//! thousands of steps lay out at once, and each a loop rather than a recursion so that a
//! 10,000-step chain cannot overflow the stack:
//! 1. layers by longest path: a node sits one layer below its deepest predecessor;
//! 2. edges spanning several layers get a virtual node in each layer they cross, so every edge
//!    of the layered graph joins neighbouring layers, and a long edge has a slot of its own in
//!    each layer it crosses instead of running through boxes;
//! 3. crossing reduction: barycenter sweeps down and up, keeping the order with fewest crossings;
//! 4. coordinates: each layer in turn, nodes move towards the mean position of their neighbours
//!    in the layer above (or below), as close as the order and the spacing allow;
//! 5. routes: each edge becomes a list of points from a port on its source to one on its target.

use super::{Edge, Graph};
use std::collections::VecDeque;

pub(crate) const NODE_HEIGHT: f64 = 46.0;
/// Vertical space between the boxes of two neighbouring layers.
const LAYER_GAP: f64 = 58.0;
/// Horizontal space between two boxes, or a box and an edge passing it.
const NODE_GAP: f64 = 28.0;
/// Horizontal space between two long edges passing through the same layer.
const EDGE_GAP: f64 = 14.0;
/// Virtual nodes pull harder towards their neighbours than boxes do, so long edges run straight.
const VIRTUAL_WEIGHT: f64 = 2.0;
/// A node with no neighbour on the side being aligned barely resists being pushed.
const LONELY_WEIGHT: f64 = 0.01;
const SWEEPS: usize = 6;
const ALIGN_ROUNDS: usize = 4;
/// Most virtual nodes in one layout. A graph where every step needs every earlier one would
/// otherwise need a cubic number of them; past this budget the longest edges are drawn as
/// single curves.
const MAX_VIRTUAL: usize = 200_000;
/// Horizontal distance between the ports of edges that leave or enter the same box.
const PORT_SPACING: f64 = 12.0;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Point {
    pub x: f64,
    pub y: f64,
}

/// How to draw one edge.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Route {
    /// From the source's port to the target's port, crossing each layer in between straight
    /// down through its virtual node's slot (a point at the top and one at the bottom of the
    /// layer). Every other pair of neighbouring points spans the gap between two layers, where
    /// there are no boxes; only edges drawn directly because the budget ran out span more.
    Curve(Vec<Point>),
    /// Between two nodes of the same layer (or a node and itself), which only a cycle gives:
    /// from the bottom of one box to the bottom of the other.
    Loop(Point, Point),
}

/// Where everything goes; coordinates start at 0 on both axes.
#[derive(Debug)]
pub(crate) struct Layout {
    /// The centre of each node of the graph.
    pub nodes: Vec<Point>,
    /// One route per edge of the graph.
    pub routes: Vec<Route>,
    pub width: f64,
    pub height: f64,
}

/// Lays out `g`, whose nodes are `widths[i]` wide and [`NODE_HEIGHT`] high.
pub(crate) fn layout(g: &Graph, widths: &[f64]) -> Layout {
    let mut l = Layered::new(g, widths);
    l.reduce_crossings();
    let x = l.place();
    let y: Vec<f64> = l.layer.iter().map(|&i| layer_y(i)).collect();
    let routes = l.routes(&x, &y);
    let real = g.nodes.len();
    let nodes = (0..real).map(|v| Point { x: x[v], y: y[v] }).collect();
    let width = (0..l.width.len()).map(|v| x[v] + l.width[v] / 2.0).fold(0.0, f64::max);
    let height = l.layers.len() as f64 * (NODE_HEIGHT + LAYER_GAP) - LAYER_GAP;
    Layout { nodes, routes, width, height: height.max(0.0) }
}

fn layer_y(layer: usize) -> f64 {
    layer as f64 * (NODE_HEIGHT + LAYER_GAP) + NODE_HEIGHT / 2.0
}

/// An edge of the graph in layered form: layout nodes from top to bottom.
struct Chain {
    /// The real endpoints and the virtual nodes between them; empty for an edge within a layer.
    nodes: Vec<usize>,
    /// The edge points upwards (it closes a cycle): its target is `nodes[0]`.
    reversed: bool,
}

/// The layered graph: the real nodes (`0..real`) followed by virtual ones.
struct Layered {
    real: usize,
    layer: Vec<usize>,
    width: Vec<f64>,
    /// Neighbours in the layer above and below.
    up: Vec<Vec<usize>>,
    down: Vec<Vec<usize>>,
    /// The nodes of each layer, left to right.
    layers: Vec<Vec<usize>>,
    chains: Vec<Chain>,
    edges: Vec<Edge>,
}

impl Layered {
    fn new(g: &Graph, widths: &[f64]) -> Self {
        let real = g.nodes.len();
        let layer = longest_path_layers(real, &g.edges);
        let depth = layer.iter().max().map_or(0, |&d| d + 1);
        let mut layers = vec![Vec::new(); depth];
        for (v, &i) in layer.iter().enumerate() {
            layers[i].push(v);
        }
        let mut l = Layered {
            real,
            layer,
            width: widths.to_vec(),
            up: vec![Vec::new(); real],
            down: vec![Vec::new(); real],
            layers,
            chains: Vec::new(),
            edges: g.edges.clone(),
        };
        l.chains = l.build_chains();
        l
    }

    /// Chains for every edge. Short edges are built first, so that when the virtual node
    /// budget runs out it is the longest edges that are drawn directly.
    fn build_chains(&mut self) -> Vec<Chain> {
        let mut by_span: Vec<usize> = (0..self.edges.len()).collect();
        by_span.sort_by_key(|&i| self.layer[self.edges[i].from].abs_diff(self.layer[self.edges[i].to]));
        let mut chains: Vec<Option<Chain>> = (0..self.edges.len()).map(|_| None).collect();
        let mut budget = MAX_VIRTUAL;
        for i in by_span {
            chains[i] = Some(self.chain(self.edges[i], &mut budget));
        }
        chains.into_iter().flatten().collect()
    }

    fn chain(&mut self, edge: Edge, budget: &mut usize) -> Chain {
        let reversed = self.layer[edge.from] > self.layer[edge.to];
        let (top, bottom) = if reversed { (edge.to, edge.from) } else { (edge.from, edge.to) };
        let span = self.layer[bottom] - self.layer[top];
        if span == 0 {
            return Chain { nodes: Vec::new(), reversed };
        }
        if span - 1 > *budget {
            return Chain { nodes: vec![top, bottom], reversed };
        }
        *budget -= span - 1;
        let mut nodes = vec![top];
        for i in self.layer[top] + 1..self.layer[bottom] {
            nodes.push(self.add_virtual(i));
        }
        nodes.push(bottom);
        for pair in nodes.windows(2) {
            self.down[pair[0]].push(pair[1]);
            self.up[pair[1]].push(pair[0]);
        }
        Chain { nodes, reversed }
    }

    fn add_virtual(&mut self, layer: usize) -> usize {
        let v = self.layer.len();
        self.layer.push(layer);
        self.width.push(0.0);
        self.up.push(Vec::new());
        self.down.push(Vec::new());
        self.layers[layer].push(v);
        v
    }

    fn is_virtual(&self, v: usize) -> bool {
        v >= self.real
    }

    /// Barycenter sweeps, down then up, keeping the best order seen.
    fn reduce_crossings(&mut self) {
        let mut pos = positions(&self.layers, self.layer.len());
        let mut best = self.layers.clone();
        let mut fewest = crossings(&self.layers, &self.down, &pos);
        for _ in 0..SWEEPS {
            if fewest == 0 {
                break;
            }
            for layer in self.layers.iter_mut().skip(1) {
                sort_by_barycenter(layer, &self.up, &mut pos);
            }
            for layer in self.layers.iter_mut().rev().skip(1) {
                sort_by_barycenter(layer, &self.down, &mut pos);
            }
            let now = crossings(&self.layers, &self.down, &pos);
            if now < fewest {
                fewest = now;
                best.clone_from(&self.layers);
            }
        }
        self.layers = best;
    }

    /// The x of every layout node's centre: packed to the left first, then aligned with the
    /// neighbours above and below in turn, and shifted so the leftmost box starts at 0.
    fn place(&self) -> Vec<f64> {
        let mut x = vec![0.0; self.layer.len()];
        for layer in &self.layers {
            let mut at = 0.0;
            for (i, &v) in layer.iter().enumerate() {
                if i > 0 {
                    at += self.separation(layer[i - 1], v);
                }
                x[v] = at;
            }
        }
        for _ in 0..ALIGN_ROUNDS {
            for layer in self.layers.iter().skip(1) {
                self.align(layer, &self.up, &mut x);
            }
            for layer in self.layers.iter().rev().skip(1) {
                self.align(layer, &self.down, &mut x);
            }
        }
        let left = (0..x.len()).map(|v| x[v] - self.width[v] / 2.0).fold(f64::INFINITY, f64::min);
        if left.is_finite() {
            x.iter_mut().for_each(|x| *x -= left);
        }
        x
    }

    /// Smallest distance between the centres of two neighbours in a layer.
    fn separation(&self, a: usize, b: usize) -> f64 {
        let gap = if self.is_virtual(a) && self.is_virtual(b) { EDGE_GAP } else { NODE_GAP };
        (self.width[a] + self.width[b]) / 2.0 + gap
    }

    /// Moves the nodes of one layer as close as possible to the mean x of their neighbours
    /// (`adjacent`), keeping their order and spacing. With `offset[i]` the least distance from
    /// the first node to node `i`, the problem is a weighted isotonic regression of
    /// `want[i] - offset[i]`, which pool-adjacent-violators solves exactly in linear time.
    fn align(&self, layer: &[usize], adjacent: &[Vec<usize>], x: &mut [f64]) {
        let mut offset = Vec::with_capacity(layer.len());
        let mut blocks: Vec<Block> = Vec::new();
        for (i, &v) in layer.iter().enumerate() {
            let at = if i == 0 { 0.0 } else { offset[i - 1] + self.separation(layer[i - 1], v) };
            offset.push(at);
            let (want, weight) = self.wish(v, adjacent, x);
            blocks.push(Block { weight, sum: weight * (want - at), len: 1 });
            while blocks.len() > 1 && blocks[blocks.len() - 2].mean() > blocks[blocks.len() - 1].mean() {
                let last = blocks.pop().expect("two blocks");
                blocks.last_mut().expect("one block").merge(last);
            }
        }
        let mut i = 0;
        for block in blocks {
            for _ in 0..block.len {
                x[layer[i]] = block.mean() + offset[i];
                i += 1;
            }
        }
    }

    /// Where node `v` would like to be, and how much that matters.
    fn wish(&self, v: usize, adjacent: &[Vec<usize>], x: &[f64]) -> (f64, f64) {
        let near = &adjacent[v];
        if near.is_empty() {
            return (x[v], LONELY_WEIGHT);
        }
        let mean = near.iter().map(|&u| x[u]).sum::<f64>() / near.len() as f64;
        let weight = if self.is_virtual(v) { VIRTUAL_WEIGHT } else { 1.0 };
        (mean, weight)
    }

    /// The points of every edge. Edges leaving (or entering) a box get ports spread along its
    /// bottom (or top) side, ordered by where the edge goes, so they do not cross at the box.
    fn routes(&self, x: &[f64], y: &[f64]) -> Vec<Route> {
        let (starts, ends) = self.ports(x);
        let half = NODE_HEIGHT / 2.0;
        self.chains
            .iter()
            .enumerate()
            .map(|(i, chain)| {
                let Some((&top, &bottom)) = chain.nodes.first().zip(chain.nodes.last()) else {
                    let (a, b) = (self.edges[i].from, self.edges[i].to);
                    return Route::Loop(Point { x: x[a], y: y[a] + half }, Point { x: x[b], y: y[b] + half });
                };
                let inner = &chain.nodes[1..chain.nodes.len() - 1];
                let mut points = vec![Point { x: starts[i], y: y[top] + half }];
                for &v in inner {
                    points.push(Point { x: x[v], y: y[v] - half });
                    points.push(Point { x: x[v], y: y[v] + half });
                }
                points.push(Point { x: ends[i], y: y[bottom] - half });
                if chain.reversed {
                    points.reverse();
                }
                Route::Curve(points)
            })
            .collect()
    }

    /// The x of each chain's start port (on its top node) and end port (on its bottom node).
    fn ports(&self, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let mut leaving: Vec<Vec<(f64, usize)>> = vec![Vec::new(); self.real];
        let mut entering: Vec<Vec<(f64, usize)>> = vec![Vec::new(); self.real];
        for (i, chain) in self.chains.iter().enumerate() {
            if let [top, next, ..] = chain.nodes[..] {
                leaving[top].push((x[next], i));
            }
            if let [.., prev, bottom] = chain.nodes[..] {
                entering[bottom].push((x[prev], i));
            }
        }
        let mut starts = vec![0.0; self.chains.len()];
        let mut ends = vec![0.0; self.chains.len()];
        for v in 0..self.real {
            self.spread(v, &mut leaving[v], x, &mut starts);
            self.spread(v, &mut entering[v], x, &mut ends);
        }
        (starts, ends)
    }

    fn spread(&self, v: usize, edges: &mut [(f64, usize)], x: &[f64], out: &mut [f64]) {
        edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let k = edges.len();
        if k == 0 {
            return;
        }
        let spacing = if k > 1 { PORT_SPACING.min(0.6 * self.width[v] / (k - 1) as f64) } else { 0.0 };
        for (i, &(_, edge)) in edges.iter().enumerate() {
            out[edge] = x[v] + (i as f64 - (k - 1) as f64 / 2.0) * spacing;
        }
    }
}

/// Longest-path layering over all edges with Kahn's algorithm. In a cycle (only an invalid
/// pipeline has one) no node ever becomes ready; the earliest waiting node in file order is then
/// taken anyway, and the edges into it from nodes not yet placed point upwards.
fn longest_path_layers(n: usize, edges: &[Edge]) -> Vec<usize> {
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut waiting_for = vec![0usize; n];
    for e in edges.iter().filter(|e| e.from != e.to) {
        next[e.from].push(e.to);
        waiting_for[e.to] += 1;
    }
    let mut layer = vec![0; n];
    let mut placed = vec![false; n];
    let mut ready: VecDeque<usize> = (0..n).filter(|&v| waiting_for[v] == 0).collect();
    let mut earliest = 0;
    for _ in 0..n {
        let v = ready.pop_front().unwrap_or_else(|| {
            while placed[earliest] {
                earliest += 1;
            }
            earliest
        });
        placed[v] = true;
        for &w in next[v].iter().filter(|&&w| !placed[w]) {
            layer[w] = layer[w].max(layer[v] + 1);
            waiting_for[w] -= 1;
            if waiting_for[w] == 0 {
                ready.push_back(w);
            }
        }
    }
    layer
}

/// A run of nodes placed together by pool-adjacent-violators.
struct Block {
    weight: f64,
    sum: f64,
    len: usize,
}

impl Block {
    fn mean(&self) -> f64 {
        self.sum / self.weight
    }

    fn merge(&mut self, other: Block) {
        self.weight += other.weight;
        self.sum += other.sum;
        self.len += other.len;
    }
}

fn positions(layers: &[Vec<usize>], n: usize) -> Vec<usize> {
    let mut pos = vec![0; n];
    for layer in layers {
        for (i, &v) in layer.iter().enumerate() {
            pos[v] = i;
        }
    }
    pos
}

/// Orders a layer by the mean position of each node's neighbours in `adjacent`. Nodes without
/// such neighbours keep their position; the sort is stable, so ties keep their order.
fn sort_by_barycenter(layer: &mut [usize], adjacent: &[Vec<usize>], pos: &mut [usize]) {
    let key = |v: usize| {
        let near = &adjacent[v];
        if near.is_empty() {
            pos[v] as f64
        } else {
            near.iter().map(|&u| pos[u] as f64).sum::<f64>() / near.len() as f64
        }
    };
    let mut keyed: Vec<(f64, usize)> = layer.iter().map(|&v| (key(v), v)).collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (i, (_, v)) in keyed.into_iter().enumerate() {
        layer[i] = v;
        pos[v] = i;
    }
}

/// Edge crossings between every pair of neighbouring layers: with the edges sorted by their
/// upper end, two edges cross when their lower ends are in the other order, so the count is the
/// number of inversions, found with a Fenwick tree in O(E log V).
fn crossings(layers: &[Vec<usize>], down: &[Vec<usize>], pos: &[usize]) -> usize {
    let mut total = 0;
    for pair in layers.windows(2) {
        let mut ends: Vec<(usize, usize)> =
            pair[0].iter().flat_map(|&u| down[u].iter().map(move |&v| (pos[u], pos[v]))).collect();
        ends.sort_unstable();
        let mut tree = Fenwick::new(pair[1].len());
        for (seen, &(_, lower)) in ends.iter().enumerate() {
            total += seen - tree.count_up_to(lower);
            tree.add(lower);
        }
    }
    total
}

/// Counts of positions, with prefix sums in O(log n).
struct Fenwick(Vec<usize>);

impl Fenwick {
    fn new(n: usize) -> Self {
        Fenwick(vec![0; n + 1])
    }

    fn add(&mut self, pos: usize) {
        let mut i = pos + 1;
        while i < self.0.len() {
            self.0[i] += 1;
            i += i & i.wrapping_neg();
        }
    }

    /// How many added positions are `<= pos`.
    fn count_up_to(&self, pos: usize) -> usize {
        let mut i = pos + 1;
        let mut sum = 0;
        while i > 0 {
            sum += self.0[i];
            i -= i & i.wrapping_neg();
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::EdgeKind;

    fn edges(pairs: &[(usize, usize)]) -> Vec<Edge> {
        pairs.iter().map(|&(from, to)| Edge { from, to, kind: EdgeKind::Needs }).collect()
    }

    #[test]
    fn a_node_sits_one_layer_below_its_deepest_predecessor() {
        // 0 -> 1 -> 2, and 0 -> 2 directly: 2 goes below 1, not beside it.
        assert_eq!(longest_path_layers(3, &edges(&[(0, 1), (1, 2), (0, 2)])), [0, 1, 2]);
    }

    #[test]
    fn cycles_are_broken_in_file_order() {
        // 0 -> 1 -> 2 -> 0 and 3 -> 1: nothing in the cycle is ever ready on its own.
        assert_eq!(longest_path_layers(4, &edges(&[(0, 1), (1, 2), (2, 0), (3, 1)])), [0, 1, 2, 0]);
    }

    #[test]
    fn crossings_are_counted_between_neighbouring_layers() {
        // 0 -> 3 and 1 -> 2 cross once, given layers [0, 1] and [2, 3].
        let layers = vec![vec![0, 1], vec![2, 3]];
        let down = vec![vec![3], vec![2], vec![], vec![]];
        assert_eq!(crossings(&layers, &down, &positions(&layers, 4)), 1);
    }

    #[test]
    fn barycenter_sweeps_untangle_a_crossing() {
        let g_edges = edges(&[(0, 3), (1, 2)]);
        let graph = Graph { name: "x", nodes: vec![node(); 4], edges: g_edges };
        let mut l = Layered::new(&graph, &[100.0; 4]);
        l.reduce_crossings();
        assert_eq!(crossings(&l.layers, &l.down, &positions(&l.layers, 4)), 0);
    }

    fn node() -> super::super::Node<'static> {
        super::super::Node { id: "a", kind: "k", condition: None, handler: false, description: None }
    }
}
