DROP TABLE javari_postmortem_action_items;
DROP TABLE javari_postmortems;
