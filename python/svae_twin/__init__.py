"""PyTorch twin of the SentenceVAE for .NET models, for training at scale under torchrun.

A mirror, not a second product: each module here mirrors one C# file (see MIRRORS), reads the same
config.json and writes the same safetensors keys, and the parity tests in tests/SentenceVae.Tests/Twin
keep the two equal.
"""

# Which file mirrors which (the parity tests name the pairs they check).
MIRRORS = {
    "opt.py": ["src/SentenceVae/Modules/OptConfig.cs", "src/SentenceVae/Modules/OptForCausalLm.cs", "src/SentenceVae/Modules/OptLayers.cs",
               "src/SentenceVae/Modules/OptDecoder.cs", "src/SentenceVae/Modules/OptDecoderLayer.cs",
               "src/SentenceVae/Modules/OptAttention.cs"],
    "sllm.py": ["src/SentenceVae/Modules/SentenceLlm.cs", "src/SentenceVae/Modules/SentenceLlmConfig.cs",
                "src/SentenceVae/Modules/SentenceVaeConfig.cs", "src/SentenceVae/Modules/SentenceVaeModel.cs",
                "src/SentenceVae/Modules/SentenceEncoder.cs", "src/SentenceVae/Modules/SentenceEncoderLayer.cs",
                "src/SentenceVae/Modules/SentenceDecoder.cs", "src/SentenceVae/Modules/SentenceDecoderLayer.cs",
                "src/SentenceVae/Modules/FusedMultiheadAttention.cs", "src/SentenceVae/Modules/SinusoidalPositions.cs",
                "src/SentenceVae/Modules/AttentionMasks.cs", "src/SentenceVae/Modules/NextPiecePlan.cs",
                "src/SentenceVae/Modules/StopHead.cs", "src/SentenceVae/Data/PieceWindows.cs",
                "src/SentenceVae/Inference/SentenceCodec.cs (Batch)", "src/SentenceVae/Training/SllmTrainingTask.cs (Loss, \"ce\")"],
    "generate.py": ["src/SentenceVae/Inference/TokenEngine.cs (greedy)", "src/SentenceVae/Inference/SentenceEngine.cs (greedy)"],
    "shards.py": ["src/SentenceVae/Data/TokenShards.cs"],
    "evaluate.py": ["src/SentenceVae/Evaluation/LmEvaluator.cs", "src/SentenceVae/Evaluation/SllmEvaluator.cs"],
    "safetensors_io.py": ["src/SentenceVae/Checkpoints/StateDicts.cs (safetensors)"],
}
