pub mod biometrics;
