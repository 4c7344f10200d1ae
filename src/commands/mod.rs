//! The commands, one file each. (Being written.)
