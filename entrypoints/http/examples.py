"""Request examples for the OpenAPI document: the Shop Buddy blueprint of the design."""

from typing import Any, Final

SHOP_BUDDY: Final[dict[str, Any]] = {
    "identity": {
        "name": "Shop Buddy",
        "role": "Customer service assistant for a clothing store",
        "personality": "Friendly, brief and patient",
        "primary_purpose": "Answer shoppers' questions about products, sizes, stock and returns",
    },
    "capabilities": [
        {
            "task": "Answer product questions",
            "description": "Give sizes, prices and stock levels for items in the catalog",
            "examples": ["Do you have the linen shirt in XL?", "How much are the black boots?"],
        },
        {
            "task": "Explain the return policy",
            "description": "State the return window and the steps to send an item back",
            "examples": ["Can I return a jacket I wore once?"],
        },
    ],
    "tools": [
        {
            "name": "inventory_lookup",
            "purpose": "Look up stock and sizes for a product",
            "triggers": ["stock", "size", "available"],
        }
    ],
    "integrations": [{"app": "Slack", "actions": ["send_message"], "triggers": ["question_needs_staff"]}],
    "knowledge_sources": [
        {"source": "Product catalog spreadsheet", "type": "spreadsheet", "update_frequency": "daily"}
    ],
    "monitoring": {"reporting": "weekly_summary", "fallbacks": "escalate_to_human"},
    "test_scenarios": [{"question": "What does the denim jacket cost?", "expected": "The denim jacket is $59."}],
    "workflow": {
        "steps": ["receive_question", "check_catalog", "answer_or_escalate"],
        "visual_flow": "[Shopper] -> [Question] -> [Catalog] -> [Answer or staff alert]",
    },
}
