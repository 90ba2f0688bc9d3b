//! breakfix: provisions deliberately broken sandboxes, hands them to a candidate, and grades
//! the outcome with checks mapped to an interview rubric.
//!
//! The flow runs one way: a [`scenario`] package is loaded and validated into plain data; the
//! [`engine`] drives a [`backend::Backend`] to provision, inspect and tear down a session;
//! [`check`] executors observe the sandbox and return outcomes with evidence; [`grade`] turns
//! outcomes, hints and penalties into a [`grade::Report`]; [`report`] renders it.

pub mod backend;
pub mod candidate;
pub mod ceiling;
pub mod chain;
pub mod check;
pub mod choice;
pub mod cli;
pub mod compose;
pub mod diagnostic;
pub mod duration;
pub mod engine;
pub mod exit;
pub mod grade;
pub mod manifests;
pub mod plan;
pub mod recording;
pub mod report;
pub mod repository;
pub mod scenario;
pub mod seal;
pub mod serve;
pub mod session;
pub mod takehome;
pub mod timeline;
pub mod tools;
pub mod tree;
pub mod wait;
pub mod yaml;
