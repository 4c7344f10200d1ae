//! Output conventions: colour, spinners, logging. (Being written.)
