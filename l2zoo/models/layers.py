"""The zoo's own Keras layers for its models, in a module that imports Keras alone: Keras reads
them back from a saved model once this is imported (`l2zoo.startup` does it when Keras loads).
"""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="l2zoo")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned vector per token position: ``x + E`` with E of shape (tokens, dim)."""

    def __init__(self, embeddings_regularizer: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.embeddings_regularizer = keras.regularizers.get(embeddings_regularizer)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.position_embedding = self.add_weight(
            name="position_embedding",
            shape=tuple(input_shape[1:]),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
            regularizer=self.embeddings_regularizer,
        )

    def call(self, inputs: Any) -> Any:
        return inputs + self.position_embedding

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "embeddings_regularizer": keras.regularizers.serialize(self.embeddings_regularizer),
        }
