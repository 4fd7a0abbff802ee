//! The dataflow graph of a core function, as Graphviz text: a node per
//! statement (and parameter), an edge from each value to its uses. A use
//! inside a nested block (a `map` body, a loop) is drawn as an edge into the
//! statement that holds the block.

use super::ir::{Atom, Block, Func, LoopKind, Rhs, VarId};
use crate::HashMap;
use petgraph::dot::{Config, Dot};
use petgraph::graph::{DiGraph, NodeIndex};

/// Graphviz text for the dataflow of `f`.
pub fn dataflow_dot(f: &Func) -> String {
    let mut graph: DiGraph<String, &'static str> = DiGraph::new();
    let mut nodes: HashMap<VarId, NodeIndex> = HashMap::default();
    for p in &f.params {
        nodes.insert(p.var, graph.add_node(format!("{}.{}: {}", p.name, p.var.0, p.ty)));
    }
    add_block(&mut graph, &mut nodes, &f.body, None);
    let result = graph.add_node("result".to_string());
    if let Atom::Var(v) = f.body.result {
        if let Some(&n) = nodes.get(&v) {
            graph.add_edge(n, result, "");
        }
    }
    format!("{}", Dot::with_config(&graph, &[Config::EdgeNoLabel]))
}

/// Adds the statements of a block; uses inside nested blocks become edges
/// into `owner`, the statement that holds the block.
fn add_block(
    graph: &mut DiGraph<String, &'static str>,
    nodes: &mut HashMap<VarId, NodeIndex>,
    block: &Block,
    owner: Option<NodeIndex>,
) {
    for s in &block.stmts {
        let label = format!("{}.{} = {}", s.binder.name, s.binder.var.0, head(&s.rhs));
        let node = graph.add_node(label);
        let target = owner.unwrap_or(node);
        for v in operands(&s.rhs) {
            if let Some(&from) = nodes.get(&v) {
                graph.add_edge(from, target, "");
            }
        }
        nodes.insert(s.binder.var, node);
        for inner in blocks(&s.rhs) {
            add_block(graph, nodes, inner, Some(target));
        }
    }
}

fn head(rhs: &Rhs) -> String {
    match rhs {
        Rhs::Atom(_) => "copy".into(),
        Rhs::Prim(p, _) => p.name().into(),
        Rhs::Tuple(_) => "tuple".into(),
        Rhs::Proj(_, i) => format!("proj {i}"),
        Rhs::Array(..) => "array".into(),
        Rhs::Call(f, _) => format!("call {f}"),
        Rhs::If(..) => "if".into(),
        Rhs::Loop(l) => match l.kind {
            LoopKind::For { .. } => "loop for".into(),
            LoopKind::While { .. } => "loop while".into(),
        },
        Rhs::Map { .. } => "map".into(),
        Rhs::Build { .. } => "build".into(),
        Rhs::Reduce(_) => "reduce".into(),
        Rhs::Scan(_) => "scan".into(),
        Rhs::Deriv { op, func, .. } => format!("{}({func})", op.name()),
    }
}

/// The variables a statement reads directly (not inside its blocks).
fn operands(rhs: &Rhs) -> Vec<VarId> {
    let atoms: Vec<Atom> = match rhs {
        Rhs::Atom(a) | Rhs::Proj(a, _) => vec![*a],
        Rhs::Prim(_, args) | Rhs::Tuple(args) | Rhs::Array(args, _) | Rhs::Call(_, args) => args.clone(),
        Rhs::If(c, ..) => vec![*c],
        Rhs::Loop(l) => match &l.kind {
            LoopKind::For { n, .. } => vec![l.init, *n],
            LoopKind::While { .. } => vec![l.init],
        },
        Rhs::Map { arrays, .. } => arrays.clone(),
        Rhs::Build { n, .. } => vec![*n],
        Rhs::Reduce(c) | Rhs::Scan(c) => vec![c.ne, c.array],
        Rhs::Deriv { captured, args, .. } => captured.iter().chain(args).copied().collect(),
    };
    atoms
        .into_iter()
        .filter_map(|a| match a {
            Atom::Var(v) => Some(v),
            Atom::F64(_) | Atom::I64(_) | Atom::Bool(_) => None,
        })
        .collect()
}

fn blocks(rhs: &Rhs) -> Vec<&Block> {
    match rhs {
        Rhs::If(_, a, b) => vec![a, b],
        Rhs::Loop(l) => match &l.kind {
            LoopKind::For { .. } => vec![&l.body],
            LoopKind::While { cond } => vec![cond, &l.body],
        },
        Rhs::Map { body, .. } | Rhs::Build { body, .. } => vec![body],
        Rhs::Reduce(c) | Rhs::Scan(c) => vec![&c.body],
        Rhs::Atom(_)
        | Rhs::Prim(..)
        | Rhs::Tuple(_)
        | Rhs::Proj(..)
        | Rhs::Array(..)
        | Rhs::Call(..)
        | Rhs::Deriv { .. } => Vec::new(),
    }
}
