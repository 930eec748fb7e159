"""PyTorch twin of the SentenceVAE for .NET models, for training at scale under torchrun.

A mirror, not a second product: each module here mirrors one C# file (see MIRRORS), reads the same
config.json and writes the same safetensors keys, and the parity tests in tests/SentenceVae.Tests/Twin
keep the two equal.
"""

# Which file mirrors which (the parity tests name the pairs they check).
MIRRORS = {
    "opt.py": ["src/SentenceVae/Modules/OptConfig.cs", "src/SentenceVae/Modules/OptForCausalLm.cs",
               "src/SentenceVae/Modules/OptDecoder.cs", "src/SentenceVae/Modules/OptDecoderLayer.cs",
               "src/SentenceVae/Modules/OptAttention.cs"],
    "shards.py": ["src/SentenceVae/Data/TokenShards.cs"],
    "evaluate.py": ["src/SentenceVae/Evaluation/LmEvaluator.cs"],
    "safetensors_io.py": ["src/SentenceVae/Checkpoints/StateDicts.cs (safetensors)"],
}
