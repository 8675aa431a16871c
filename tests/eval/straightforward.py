"""An independent, deliberately naive implementation of the reference's scoring, for tests:
the shuffle and few-shot draws written from their description (tests/golden/README.md), and one
model call per (context, continuation) request with nothing shared, batched or cached."""

import random

import torch


def straightforward_contexts(task, eval_docs, train_docs, shots, limit):
    generator = random.Random(42)
    docs = list(eval_docs)
    generator.shuffle(docs)
    out = []
    for doc in docs[:limit]:
        parts = []
        if shots:
            for example in generator.sample(train_docs, shots):
                parts.append(task.doc_to_text(example) + task.doc_to_target(example))
        context = "\n\n".join(parts + [task.doc_to_text(doc)])
        out.append((doc, context.strip() if task.name == "kobest_copa" else context))
    return out


@torch.no_grad()
def straightforward_loglikelihood(model, tokenizer, context, continuation):
    config = model.config.get_text_config()  # the config itself, or a multimodal one's language model
    try:
        max_length = config.n_ctx
    except AttributeError:
        max_length = config.max_position_embeddings
    context_ids = tokenizer.encode(context, add_special_tokens=False) if context else [tokenizer.eos_token_id]
    continuation_ids = tokenizer.encode(continuation, add_special_tokens=False)
    inputs = (context_ids + continuation_ids)[-(max_length + 1) :][:-1]
    log_probs = torch.log_softmax(model(torch.tensor([inputs])).logits[0], dim=-1)
    start = len(inputs) - len(continuation_ids)
    total = 0.0
    for offset, token in enumerate(continuation_ids):
        total += float(log_probs[start + offset, token])
    return total, len(context_ids) + len(continuation_ids) > max_length + 1
