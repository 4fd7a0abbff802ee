//! The dl runtime: what natively compiled dl code links against. It never
//! imports the compiler; the two share only the ABI.
