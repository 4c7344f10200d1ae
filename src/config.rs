//! Configuration: user file < repository `.csm.toml` < `CSM_*` environment.
//! (Being written; see the foundation issue.)
