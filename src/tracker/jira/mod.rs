//! The Jira tracker: Cloud (REST v3, ADF bodies, basic auth) and Data
//! Center (REST v2, wiki-markup bodies, bearer personal access token).

pub mod adf;
pub mod wiki;
