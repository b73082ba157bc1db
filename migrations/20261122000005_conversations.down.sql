DROP TABLE IF EXISTS javari_cost_tracking;
DROP TABLE IF EXISTS javari_conversation_summaries;
DROP TABLE IF EXISTS javari_messages;
DROP TABLE IF EXISTS javari_conversations;
