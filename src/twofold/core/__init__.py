"""The domain rules of Twofold, framework-free: standard library and twofold.otp only."""
